// Small progressive enhancements; every page works without JavaScript.
document.querySelectorAll("select.autosubmit").forEach(function (el) {
  el.addEventListener("change", function () { el.form.submit(); });
});
document.querySelectorAll("form[data-confirm]").forEach(function (form) {
  form.addEventListener("submit", function (ev) { if (!window.confirm(form.dataset.confirm)) ev.preventDefault(); });
});
