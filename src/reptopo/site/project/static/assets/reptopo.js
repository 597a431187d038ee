// Leaderboard tables (sort by any column, filter by selects and text) and plots from embedded
// JSON. Plain DOM code: no framework, nothing fetched from another host.
(function () {
  "use strict";

  function cellValue(td) {
    var v = td.getAttribute("data-value");
    if (v === null) v = td.textContent.trim();
    var n = parseFloat(v);
    return isNaN(n) || !/^-?[0-9.eE+-]+$/.test(v) ? v.toLowerCase() : n;
  }

  function sortTable(table, col, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    rows.sort(function (a, b) {
      var x = cellValue(a.cells[col]), y = cellValue(b.cells[col]);
      if (typeof x !== typeof y) { x = String(x); y = String(y); }
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function applyFilters(table, controls) {
    var text = (controls.querySelector("input[data-filter=text]") || {}).value || "";
    text = text.toLowerCase();
    var selects = controls.querySelectorAll("select[data-filter]");
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var ok = !text || row.textContent.toLowerCase().indexOf(text) >= 0;
      Array.prototype.forEach.call(selects, function (s) {
        if (s.value && row.getAttribute("data-" + s.getAttribute("data-filter")) !== s.value) ok = false;
      });
      row.style.display = ok ? "" : "none";
      if (ok) shown += 1;
    });
    var count = controls.querySelector(".rt-count");
    if (count) count.textContent = shown + " of " + table.tBodies[0].rows.length + " rows";
  }

  function initTables() {
    document.querySelectorAll("table.rt-table").forEach(function (table) {
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
        th.addEventListener("click", function () { sortTable(table, i, th); });
      });
      var controls = document.getElementById(table.getAttribute("data-controls"));
      if (controls) {
        controls.querySelectorAll("input[data-column]").forEach(function (box) {
          box.addEventListener("change", function () {
            table.querySelectorAll('[data-col="' + box.getAttribute("data-column") + '"]').forEach(function (cell) {
              cell.classList.toggle("rt-hidden", !box.checked);
            });
          });
        });
        controls.querySelectorAll("select, input").forEach(function (el) {
          el.addEventListener("input", function () { applyFilters(table, controls); });
          el.addEventListener("change", function () { applyFilters(table, controls); });
        });
        applyFilters(table, controls);
      }
    });
  }

  function initPlots() {
    if (typeof Plotly === "undefined") return;
    document.querySelectorAll("div.rt-plot[data-spec]").forEach(function (div) {
      var spec = JSON.parse(document.getElementById(div.getAttribute("data-spec")).textContent);
      Plotly.newPlot(div, spec.data, spec.layout, { displaylogo: false, responsive: true });
    });
  }

  // Compare pages: two selectors choose the pair whose similarity maps are shown; the maps of
  // every pair are on the page, one group visible at a time.
  function initPairs() {
    document.querySelectorAll(".rt-compare").forEach(function (box) {
      var left = box.querySelector("select[data-side=left]"), right = box.querySelector("select[data-side=right]");
      var groups = box.querySelectorAll(".rt-pair"), none = box.querySelector(".rt-nopair");
      function show() {
        var found = false;
        groups.forEach(function (g) {
          var a = g.getAttribute("data-left"), b = g.getAttribute("data-right");
          var on = !found && ((a === left.value && b === right.value) || (a === right.value && b === left.value));
          g.style.display = on ? "" : "none";
          if (on) {
            found = true;
            if (typeof Plotly !== "undefined") g.querySelectorAll("div.rt-plot").forEach(function (d) { Plotly.Plots.resize(d); });
          }
        });
        if (none) none.style.display = found ? "none" : "";
      }
      left.addEventListener("change", show);
      right.addEventListener("change", show);
      show();
    });
  }

  function init() { initTables(); initPlots(); initPairs(); }
  if (typeof document$ !== "undefined" && document$.subscribe) {
    document$.subscribe(init);  // mkdocs-material's instant navigation
  } else {
    document.addEventListener("DOMContentLoaded", init);
  }
})();
