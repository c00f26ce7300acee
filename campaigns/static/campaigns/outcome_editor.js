/* The agent profile's outcome schema as rows to edit instead of raw JSON: each outcome with its label and
   description, each field with its name, type and "required". The JSON textarea stays the form field (the
   server validates it as before); this editor writes it on every change, and "Show JSON" reveals it. No library. */
(function () {
  "use strict";
  var TYPES = ["string", "integer", "number", "boolean", "date", "datetime"];

  function make(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function parse(text) {
    try {
      var value = JSON.parse(text || "[]");
      return Array.isArray(value) ? value : null;
    } catch (e) { return null; }
  }

  function editor(textarea) {
    var schema = parse(textarea.value);
    if (schema === null) { return; } // not JSON we can show as rows: leave the textarea as it is
    var box = make("div", {id: "outcome-editor", "class": "outcome-editor"});
    var list = make("div", {"class": "outcome-list"});
    box.appendChild(list);

    function write() {
      var out = [];
      list.querySelectorAll(".outcome-row").forEach(function (row) {
        var fields = [];
        row.querySelectorAll(".field-row").forEach(function (f) {
          var name = f.querySelector(".field-name").value.trim();
          if (!name) { return; }
          fields.push({name: name, type: f.querySelector(".field-type").value,
                       required: f.querySelector(".field-required").checked});
        });
        var label = row.querySelector(".outcome-label").value.trim();
        if (!label && !fields.length) { return; }
        out.push({label: label, description: row.querySelector(".outcome-description").value.trim(), fields: fields});
      });
      textarea.value = JSON.stringify(out, null, 2);
    }

    function fieldRow(container, field) {
      var row = make("div", {"class": "field-row"});
      var name = make("input", {type: "text", "class": "field-name", placeholder: "field name, e.g. callback_at", size: "22"});
      name.value = field.name || "";
      var type = make("select", {"class": "field-type"});
      TYPES.forEach(function (t) {
        var option = make("option", {value: t}, t);
        if ((field.type || "string") === t) { option.selected = true; }
        type.appendChild(option);
      });
      var required = make("input", {type: "checkbox", "class": "field-required"});
      required.checked = Boolean(field.required);
      var requiredLabel = make("label", {}, " required ");
      requiredLabel.prepend(required);
      var remove = make("button", {type: "button", "class": "field-remove"}, "remove field");
      remove.addEventListener("click", function () { row.remove(); write(); });
      [name, type, requiredLabel, remove].forEach(function (n) { row.appendChild(n); });
      container.appendChild(row);
    }

    function outcomeRow(outcome) {
      var row = make("fieldset", {"class": "outcome-row module"});
      var head = make("div", {"class": "outcome-head"});
      var label = make("input", {type: "text", "class": "outcome-label", placeholder: "label, e.g. call_back", size: "18"});
      label.value = outcome.label || "";
      var description = make("input", {type: "text", "class": "outcome-description", placeholder: "what it means, for the agent", size: "50"});
      description.value = outcome.description || "";
      var remove = make("button", {type: "button", "class": "outcome-remove"}, "remove outcome");
      remove.addEventListener("click", function () { row.remove(); write(); });
      [label, description, remove].forEach(function (n) { head.appendChild(n); });
      row.appendChild(head);
      var fields = make("div", {"class": "outcome-fields"});
      (outcome.fields || []).forEach(function (f) { fieldRow(fields, f); });
      row.appendChild(fields);
      var add = make("button", {type: "button", "class": "field-add"}, "+ field");
      add.addEventListener("click", function () { fieldRow(fields, {}); });
      row.appendChild(add);
      list.appendChild(row);
    }

    schema.forEach(outcomeRow);
    var addOutcome = make("button", {type: "button", id: "outcome-add"}, "+ outcome");
    addOutcome.addEventListener("click", function () { outcomeRow({}); });
    var toggle = make("button", {type: "button", id: "outcome-json-toggle"}, "Show JSON");
    toggle.addEventListener("click", function () {
      write();
      textarea.hidden = !textarea.hidden;
      toggle.textContent = textarea.hidden ? "Show JSON" : "Hide JSON";
    });
    var tools = make("p");
    tools.appendChild(addOutcome);
    tools.appendChild(document.createTextNode(" "));
    tools.appendChild(toggle);
    box.appendChild(tools);
    box.addEventListener("input", write);
    box.addEventListener("change", write);
    textarea.hidden = true;
    textarea.parentNode.insertBefore(box, textarea);
    textarea.form.addEventListener("submit", function () { if (textarea.hidden) { write(); } });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var textarea = document.getElementById("id_outcome_schema");
    if (textarea) { editor(textarea); }
  });
})();
