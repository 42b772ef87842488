// Small progressive enhancements; every page works without JavaScript.
document.querySelectorAll("select.autosubmit").forEach(function (el) {
  el.addEventListener("change", function () { el.form.submit(); });
});
document.querySelectorAll("form[data-confirm]").forEach(function (form) {
  form.addEventListener("submit", function (ev) { if (!window.confirm(form.dataset.confirm)) ev.preventDefault(); });
});
// Application policy form: offer only the chosen resource's scopes as permissions.
(function () {
  var select = document.getElementById("f-application_id");
  if (!select) return;
  function sync() {
    document.querySelectorAll(".perm-group").forEach(function (group) {
      var on = group.dataset.app === select.value;
      group.hidden = !on;
      group.querySelectorAll("input").forEach(function (input) { input.disabled = !on; });
    });
  }
  select.addEventListener("change", sync);
  sync();
})();
// Client keys: shown only while the authentication method is private_key_jwt (the server ignores them otherwise).
(function () {
  var method = document.getElementById("f-auth_method"), keys = document.getElementById("client-keys");
  if (!method || !keys) return;
  function sync() { keys.hidden = method.value !== "private_key_jwt"; }
  method.addEventListener("change", sync);
  sync();
})();
// Copy buttons beside a value shown once (hidden without JavaScript: the value can be selected by hand).
document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
  var source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  var label = button.textContent;
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = label; }, 2000);
    }, function () { button.textContent = "Copy failed: select the value"; });
  });
});
