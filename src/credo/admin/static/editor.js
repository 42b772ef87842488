// The DCR script editor: line numbers and JavaScript highlighting over the form's <textarea data-editor>
// (CodeJar + Prism, vendored under vendor/). The textarea stays in the form and carries what is typed,
// so the form posts `source` as before; without JavaScript (or if this fails) the plain textarea is used.
import { CodeJar } from "./vendor/codejar/codejar.js";

function lineNumbers(gutter, code) {
  var count = code.split("\n").length;
  if (code.endsWith("\n") && count > 1) count -= 1;  // CodeJar keeps one trailing newline for the caret
  var numbers = [];
  for (var i = 1; i <= count; i++) numbers.push(String(i));
  gutter.textContent = numbers.join("\n");
}

document.querySelectorAll("textarea[data-editor=javascript]").forEach(function (area) {
  if (!window.Prism || !Prism.languages.javascript) return;
  var box = document.createElement("div");
  box.className = "editor";
  var gutter = document.createElement("div");
  gutter.className = "gutter";
  gutter.setAttribute("aria-hidden", "true");
  var jar = document.createElement("div");
  jar.className = "jar language-javascript";
  jar.id = area.id + "-editor";
  jar.setAttribute("role", "textbox");
  jar.setAttribute("aria-multiline", "true");
  jar.setAttribute("aria-label", area.dataset.label || "Script");
  box.appendChild(gutter);
  box.appendChild(jar);
  area.parentNode.insertBefore(box, area);
  var editor = CodeJar(jar, function (el) {
    el.innerHTML = Prism.highlight(el.textContent, Prism.languages.javascript, "javascript");
  }, { tab: "  ", addClosing: false });  // typed as typed: no closing brackets added
  jar.style.whiteSpace = "pre";  // no wrapping: one line of code is one line number
  jar.style.overflowWrap = "normal";
  jar.style.overflowY = "visible";
  editor.updateCode(area.value);
  lineNumbers(gutter, area.value);
  function sync(code) {
    // CodeJar keeps one newline after the last line for the caret; it is not part of the script
    area.value = code.endsWith("\n") ? code.slice(0, -1) : code;
    lineNumbers(gutter, code);
  }
  editor.onUpdate(sync);
  jar.addEventListener("input", function () { sync(editor.toString()); });  // edits without a keyup too
  area.hidden = true;
  box.dataset.ready = "true";
});
