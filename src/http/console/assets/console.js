// reinstate's console: selection and the bulk-action bar; everything works without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  // On a phone the navigation folds behind its Menu button (CSS shows the button only there).
  var toggle = document.querySelector(".nav-toggle");
  var nav = document.getElementById("console-nav");
  if (toggle && nav) {
    nav.classList.add("collapsed");
    toggle.addEventListener("click", function () {
      var open = nav.classList.toggle("collapsed") === false;
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
  var bar = document.querySelector("[data-bulkbar]");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[data-select]"));
  var all = document.querySelector("input[data-select-all]");
  var count = document.querySelector("[data-selected-count]");
  function update() {
    var n = boxes.filter(function (b) { return b.checked; }).length;
    if (count) { count.textContent = n + (n === 1 ? " user selected" : " users selected"); }
    if (bar) { bar.hidden = n === 0; }
  }
  boxes.forEach(function (b) { b.addEventListener("change", update); });
  if (all) {
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
      update();
    });
  }
  if (bar) { update(); }
  // A row's menu closes on Escape (focus back on its button) and on a click outside it.
  function menus() { return Array.prototype.slice.call(document.querySelectorAll("details.menu[open]")); }
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") { return; }
    menus().forEach(function (m) {
      m.open = false;
      var summary = m.querySelector("summary");
      if (summary && m.contains(document.activeElement)) { summary.focus(); }
    });
  });
  document.addEventListener("click", function (e) {
    menus().forEach(function (m) { if (!m.contains(e.target)) { m.open = false; } });
  });
  // A page showing a job or run in progress refreshes itself until it is done.
  var refresh = document.querySelector("[data-refresh]");
  if (refresh) { setTimeout(function () { window.location.reload(); }, 1500); }
})();
