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
  // Selection: ticks are kept across pages of the same filters (in this tab), a shift-click
  // ticks the range from the last box clicked, and "every user matching" is the server's to
  // resolve (the form sends the filters, not the ids).
  var form = document.querySelector("form[data-bulk-form]");
  var bar = document.querySelector("[data-bulkbar]");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[data-select]"));
  var all = document.querySelector("input[data-select-all]");
  var count = document.querySelector("[data-selected-count]");
  var matching = document.querySelector("input[data-scope-matching]");
  var banner = document.querySelector("[data-select-matching]");
  var clear = document.querySelector("[data-clear-selection]");
  var filter = form ? form.getAttribute("data-filter") : "";
  var total = form ? parseInt(form.getAttribute("data-total"), 10) || 0 : 0;
  var storeKey = "reinstate.selection";
  function loadSelection() {
    try {
      var held = JSON.parse(window.sessionStorage.getItem(storeKey) || "null");
      if (held && held.filter === filter && Array.isArray(held.ids)) { return held.ids; }
    } catch (e) { /* storage refused: the selection is this page's */ }
    return [];
  }
  function saveSelection(ids) {
    try { window.sessionStorage.setItem(storeKey, JSON.stringify({ filter: filter, ids: ids })); } catch (e) { /* as above */ }
  }
  var selected = new Set(loadSelection());
  boxes.forEach(function (b) { if (selected.has(b.value)) { b.checked = true; } });
  function plural(n, one) { return n + " " + one + (n === 1 ? "" : "s"); }
  function update() {
    boxes.forEach(function (b) { if (b.checked) { selected.add(b.value); } else { selected.delete(b.value); } });
    saveSelection(Array.from(selected));
    var onPage = boxes.filter(function (b) { return b.checked; }).length;
    var everyone = matching && matching.checked;
    if (count) {
      if (everyone) {
        count.textContent = "All " + plural(total, "matching user") + " selected";
      } else {
        var elsewhere = selected.size - onPage;
        count.textContent = plural(selected.size, "user") + " selected" + (elsewhere > 0 ? " (" + elsewhere + " on other pages)" : "");
      }
    }
    if (bar) { bar.hidden = selected.size === 0 && !everyone; }
    if (banner) { banner.hidden = everyone || boxes.length === 0 || onPage < boxes.length; }
    if (all) { all.checked = boxes.length > 0 && onPage === boxes.length; }
    if (clear) { clear.hidden = selected.size === 0 && !everyone; }
  }
  var last = null;
  boxes.forEach(function (b, i) {
    b.addEventListener("click", function (e) {
      if (e.shiftKey && last !== null && last !== i) {
        var from = Math.min(last, i), to = Math.max(last, i);
        for (var k = from; k <= to; k++) { boxes[k].checked = b.checked; }
      }
      last = i;
      update();
    });
  });
  if (all) {
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
      update();
    });
  }
  if (banner) {
    var choose = banner.querySelector("[data-choose-matching]");
    if (choose) { choose.addEventListener("click", function () { matching.checked = true; update(); matching.focus(); }); }
  }
  Array.prototype.slice.call(document.querySelectorAll("input[name=scope]")).forEach(function (r) {
    r.addEventListener("change", update);
  });
  if (clear) {
    clear.addEventListener("click", function () {
      selected.clear();
      boxes.forEach(function (b) { b.checked = false; });
      if (matching) { matching.checked = false; }
      var ticked = document.querySelector("input[name=scope][value=selected]");
      if (ticked) { ticked.checked = true; }
      update();
    });
  }
  if (form) {
    form.addEventListener("submit", function () {
      if (!(matching && matching.checked)) {
        var here = new Set(boxes.map(function (b) { return b.value; }));
        selected.forEach(function (id) {
          if (here.has(id)) { return; }
          var input = document.createElement("input");
          input.type = "hidden";
          input.name = "user";
          input.value = id;
          form.appendChild(input);
        });
      }
      try { window.sessionStorage.removeItem(storeKey); } catch (e) { /* as above */ }
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
