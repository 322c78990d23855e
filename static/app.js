// Small progressive enhancements; every form works without this file.
// "All" checks every row checkbox of the same form (without JavaScript the
// server treats "All" as every row shown).
document.addEventListener("change", function (e) {
  var t = e.target;
  if (t && t.dataset && t.dataset.toggleAll) {
    var boxes = t.form.querySelectorAll('input[type=checkbox][name="' + t.dataset.toggleAll + '"]');
    for (var i = 0; i < boxes.length; i++) boxes[i].checked = t.checked;
  }
});
// "Copy" next to an activation code: one click puts the code on the
// clipboard (the buttons stay hidden without JavaScript; the code itself
// selects whole on one click).
document.addEventListener("DOMContentLoaded", function () {
  var b = document.querySelectorAll("button.copy[data-copy]");
  for (var i = 0; i < b.length; i++) b[i].hidden = false;
});
document.addEventListener("click", function (e) {
  var t = e.target && e.target.closest ? e.target.closest("button.copy[data-copy]") : null;
  if (!t) return;
  var el = document.getElementById(t.dataset.copy);
  if (!el) return;
  var text = el.textContent.trim();
  var done = function () { t.classList.add("copied"); setTimeout(function () { t.classList.remove("copied"); }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () {});
  } else {
    var r = document.createRange(); r.selectNodeContents(el);
    var s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
    try { if (document.execCommand("copy")) done(); } catch (err) { /* the code stays selected */ }
  }
});
// Times in the reader's own zone and language (the page says UTC
// without JavaScript).
function localTimes(root) {
  var lang = document.documentElement.lang || undefined;
  var ts = (root || document).querySelectorAll("time.local[datetime]");
  for (var i = 0; i < ts.length; i++) {
    var d = new Date(ts[i].getAttribute("datetime"));
    if (!isNaN(d)) ts[i].textContent = d.toLocaleString(lang, { dateStyle: "short", timeStyle: "short" });
  }
}
document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
// Rows that htmx swaps in (live delivery states) get the same treatment.
document.addEventListener("htmx:afterSettle", function () { localTimes(document); });
// License form: Total space follows seats and extra space as they are
// typed (the server computes the same on save).
document.addEventListener("input", function (e) {
  var f = e.target && e.target.form;
  if (!f) return;
  var out = f.querySelector("output[data-total]");
  if (!out) return;
  var v = function (n) { var i = f.querySelector('[name="' + n + '"]'); var x = i ? parseInt(i.value, 10) : 0; return isNaN(x) || x < 0 ? 0 : x; };
  out.textContent = v("standard_seats") * parseInt(out.dataset.standardGb, 10)
    + v("server_seats") * parseInt(out.dataset.serverGb, 10) + v("extra_space_gb");
});
// A vendor filter applies as soon as it changes (the Show button stays for
// pages without JavaScript).
document.addEventListener("change", function (e) {
  var t = e.target;
  if (t && t.hasAttribute && t.hasAttribute("data-autosubmit") && t.form) {
    if (t.form.requestSubmit) t.form.requestSubmit(); else t.form.submit();
  }
});
