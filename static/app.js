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
