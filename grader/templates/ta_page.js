(function () {
  "use strict";
  var body = document.body;
  var question = body.getAttribute("data-question");
  var key = "grader-ta:" + body.getAttribute("data-exercise") + ":" + question;
  var saved = {};
  try { saved = JSON.parse(localStorage.getItem(key) || "{}") || {}; } catch (e) { saved = {}; }
  var rows = Array.prototype.slice.call(document.querySelectorAll(".grade"));
  function store() {
    try { localStorage.setItem(key, JSON.stringify(saved)); } catch (e) { /* private mode */ }
    var done = rows.filter(function (r) { return r.querySelector("input.points").value !== ""; });
    document.getElementById("progress").textContent = done.length + " of " + rows.length + " graded";
  }
  rows.forEach(function (row) {
    var student = row.getAttribute("data-student");
    var points = row.querySelector("input.points");
    var comment = row.querySelector("textarea.comment");
    if (saved[student]) { points.value = saved[student].points; comment.value = saved[student].comment; }
    function save() {
      saved[student] = {points: points.value, comment: comment.value};
      row.classList.toggle("done", points.value !== "");
      store();
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
    row.classList.toggle("done", points.value !== "");
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
  store();
})();
