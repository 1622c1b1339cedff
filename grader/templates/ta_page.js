(function () {
  "use strict";
  // Autosave: one localStorage entry per exercise and question, {student: {points, comment}}.
  // A save rewrites only its own student's row over what storage holds now (never a copy taken
  // at load), and the page writes nothing until the TA types: a second tab of this question, or
  // the page just reloaded while the old one's last write is still on its way (a busy
  // browser), can then never overwrite a score with an older state. Writes made elsewhere
  // arrive as `storage` events and fill the rows.
  var body = document.body;
  var question = body.getAttribute("data-question");
  var key = "grader-ta:" + body.getAttribute("data-exercise") + ":" + question;
  var rows = Array.prototype.slice.call(document.querySelectorAll(".grade"));
  function parse(stored) {  // what is not an object (damaged, edited by hand) counts as empty
    var saved;
    try { saved = JSON.parse(stored || "{}"); } catch (e) { saved = null; }
    return saved && typeof saved === "object" && !Array.isArray(saved) ? saved : {};
  }
  function stored() {
    try { return parse(localStorage.getItem(key)); } catch (e) { return {}; }  // private mode
  }
  function progress() {
    var done = rows.filter(function (r) { return r.querySelector("input.points").value !== ""; });
    document.getElementById("progress").textContent = done.length + " of " + rows.length + " graded";
  }
  function text(value) { return value == null ? "" : String(value); }  // a damaged entry
  function show(row, entry) {
    var points = row.querySelector("input.points");
    var comment = row.querySelector("textarea.comment");
    if (points.value !== text(entry.points)) { points.value = text(entry.points); }
    if (comment.value !== text(entry.comment)) { comment.value = text(entry.comment); }
  }
  function fill(saved) {
    rows.forEach(function (row) {
      var entry = saved[row.getAttribute("data-student")];
      if (entry && typeof entry === "object") { show(row, entry); }
      row.classList.toggle("done", row.querySelector("input.points").value !== "");
    });
    progress();
  }
  rows.forEach(function (row) {
    var student = row.getAttribute("data-student");
    var points = row.querySelector("input.points");
    var comment = row.querySelector("textarea.comment");
    function save() {
      var saved = stored();
      saved[student] = {points: points.value, comment: comment.value};
      try { localStorage.setItem(key, JSON.stringify(saved)); } catch (e) { /* private mode */ }
      row.classList.toggle("done", points.value !== "");
      progress();
    }
    points.addEventListener("input", save);
    comment.addEventListener("input", save);
    row.querySelectorAll("button.level").forEach(function (button) {
      button.addEventListener("click", function () {
        points.value = button.getAttribute("data-points");
        if (!comment.value) { comment.value = button.getAttribute("data-text"); }
        save();
      });
    });
  });
  window.addEventListener("storage", function (event) {
    if (event.key === key) { fill(parse(event.newValue)); }
  });
  function cell(value) {
    return /[",\r\n]/.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value;
  }
  document.getElementById("download").addEventListener("click", function () {
    var lines = ["student,question,points,comment"];
    rows.forEach(function (row) {
      var points = row.querySelector("input.points").value.trim();
      if (points === "") { return; }
      lines.push([row.getAttribute("data-student"), question, points,
                  row.querySelector("textarea.comment").value].map(cell).join(","));
    });
    var blob = new Blob([lines.join("\r\n") + "\r\n"], {type: "text/csv"});
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "manual-" + question + ".csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
  });
  fill(stored());
})();
