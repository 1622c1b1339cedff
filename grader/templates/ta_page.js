(function () {
  "use strict";
  // Autosave: one localStorage entry per student, {points, comment}, under the key
  // grader-ta:["exercise","question","student"]. A save writes its own student's entry and
  // nothing else, and the page writes nothing until the TA types: a second tab of this
  // question, or a reloaded page whose storage lags behind (a busy browser), can never
  // overwrite another student's score. Writes made in another tab arrive as `storage` events
  // and fill that student's row. Scores saved by earlier versions of this page, all students
  // in one entry under grader-ta:exercise:question, are still read.
  var body = document.body;
  var exercise = body.getAttribute("data-exercise");
  var question = body.getAttribute("data-question");
  var earlier = "grader-ta:" + exercise + ":" + question;
  var rows = Array.prototype.slice.call(document.querySelectorAll(".grade"));
  var byKey = Object.create(null);  // a row by its student's key; __proto__ finds nothing
  function keyOf(student) { return "grader-ta:" + JSON.stringify([exercise, question, student]); }
  function entryOf(value) {  // what is not an object (damaged, edited by hand) counts as none
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  }
  function object(stored) {
    try { return entryOf(JSON.parse(stored || "null")); } catch (e) { return null; }
  }
  function read(key) {
    try { return object(localStorage.getItem(key)); } catch (e) { return null; }  // private mode
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
    row.classList.toggle("done", points.value !== "");
  }
  var before = read(earlier) || {};
  rows.forEach(function (row) {
    var student = row.getAttribute("data-student");
    var points = row.querySelector("input.points");
    var comment = row.querySelector("textarea.comment");
    byKey[keyOf(student)] = row;
    function save() {
      var entry = JSON.stringify({points: points.value, comment: comment.value});
      try { localStorage.setItem(keyOf(student), entry); } catch (e) { /* private mode */ }
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
    var entry = read(keyOf(student)) ||
        entryOf(Object.prototype.hasOwnProperty.call(before, student) ? before[student] : null);
    if (entry) { show(row, entry); }
    row.classList.toggle("done", points.value !== "");
  });
  window.addEventListener("storage", function (event) {
    var row = byKey[event.key];
    var entry = row && object(event.newValue);
    if (entry) { show(row, entry); progress(); }
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
  progress();
})();
