/* Live view on a campaign's admin page: calls in progress with their state and duration, dials per minute,
   the limit that holds dialing back now, contacts by status and when the window next opens (in UTC and in
   the contacts' own zone). Polls the campaign's live endpoint every few seconds. No library. */
(function () {
  "use strict";
  var POLL_MS = 3000;
  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = {done: "#2e7d32", in_progress: "#1565c0", pending: "#90a4ae", retry_scheduled: "#f9a825",
                failed: "#c62828", dnc: "#6a1b9a", invalid: "#8d6e63", review: "#ef6c00"};
  if (!/\/campaign\/\d+\/change\/$/.test(window.location.pathname)) { return; }
  var url = window.location.pathname.replace(/change\/$/, "live/");

  function make(tag, text, id) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (id) { node.id = id; }
    return node;
  }

  function duration(s) {
    var m = Math.floor(s / 60);
    var r = s % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  }

  function opening(row) {
    var utc = row.opens_utc || row.opens_at;
    if (!utc) { return "not within a week"; }
    return utc + (row.opens_local ? " (" + row.opens_local + ")" : "");
  }

  function progress(d) {
    var total = d.contacts_by_status.reduce(function (n, s) { return n + s.count; }, 0);
    var bar = make("div", null, "live-progress");
    bar.className = "console-progress";
    bar.setAttribute("role", "img");
    var legend = make("p", null, "live-contacts");
    d.contacts_by_status.forEach(function (s) {
      if (!s.count) { return; }
      var part = make("span");
      part.style.width = (100 * s.count / total) + "%";
      part.style.background = COLORS[s.status] || "#999";
      part.title = s.label + ": " + s.count;
      bar.appendChild(part);
      var item = make("span", s.label + ": ");
      item.appendChild(make("strong", String(s.count)));
      item.style.marginRight = "1.5em";
      item.dataset.status = s.status;
      legend.appendChild(item);
    });
    bar.setAttribute("aria-label", legend.textContent);
    return {total: total, bar: bar, legend: legend};
  }

  function sparkline(points) {
    var w = 240, h = 36, max = 1;
    points.forEach(function (p) { max = Math.max(max, p.dials); });
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("id", "live-spark");
    svg.setAttribute("width", w);
    svg.setAttribute("height", h);
    svg.setAttribute("role", "img");
    var total = points.reduce(function (n, p) { return n + p.dials; }, 0);
    svg.setAttribute("aria-label", total + " dials in the last " + points.length + " minutes");
    var bw = w / points.length;
    points.forEach(function (p, i) {
      [["dials", "#90caf9"], ["answered", "#1565c0"]].forEach(function (pair) {
        var v = p[pair[0]];
        if (!v) { return; }
        var rect = document.createElementNS(SVG, "rect");
        var bh = Math.max(1, Math.round((h - 2) * v / max));
        rect.setAttribute("x", (i * bw + 1).toFixed(1));
        rect.setAttribute("width", (bw - 2).toFixed(1));
        rect.setAttribute("y", h - bh);
        rect.setAttribute("height", bh);
        rect.setAttribute("fill", pair[1]);
        var title = document.createElementNS(SVG, "title");
        title.textContent = p.minute + " UTC: " + p.dials + " dialed, " + p.answered + " answered";
        rect.appendChild(title);
        svg.appendChild(rect);
      });
    });
    return svg;
  }

  function callsTable(calls) {
    var table = make("table", null, "live-calls");
    var head = make("tr");
    ["Number", "Their time", "State", "For", "AMD", "Caller ID", ""].forEach(function (t) { head.appendChild(make("th", t)); });
    table.appendChild(head);
    calls.forEach(function (c) {
      var tr = make("tr");
      tr.dataset.attempt = c.id;
      tr.dataset.state = c.state;
      tr.appendChild(make("td", c.number + (c.name ? " \u00b7 " + c.name : "")));
      tr.appendChild(make("td", c.local_time));
      tr.appendChild(make("td", c.state_label));
      tr.appendChild(make("td", duration(c.seconds))).className = "live-duration";
      tr.appendChild(make("td", c.amd));
      tr.appendChild(make("td", c.caller_id));
      var link = make("a", "details");
      link.href = c.url;
      var td = make("td");
      td.appendChild(link);
      tr.appendChild(td);
      table.appendChild(tr);
    });
    return table;
  }

  function render(box, d) {
    box.replaceChildren();
    box.appendChild(make("h2", "Live (" + d.status_label + ")"));
    var line = make("p");
    line.appendChild(make("strong", d.in_flight + " / " + d.limit, "live-in-flight"));
    line.appendChild(document.createTextNode(" calls in flight \u00b7 "));
    line.appendChild(make("strong", String(d.dialed_last_minute), "live-dialed"));
    line.appendChild(document.createTextNode(" dialed in the last minute"));
    box.appendChild(line);
    if (d.holding) {
      var held = make("p", d.holding.text, "live-holding");
      held.dataset.binding = d.holding.binding || "";
      box.appendChild(held);
      var limits = make("ul", null, "live-limits");
      limits.className = "console-muted";
      d.holding.limits.forEach(function (l) {
        var li = make("li", l.label + ": " + l.value + (l.full ? " \u2014 full" : ""));
        li.dataset.key = l.key;
        li.dataset.full = l.full ? "1" : "0";
        limits.appendChild(li);
      });
      box.appendChild(limits);
    }
    if (d.per_minute) {
      var spark = make("p", "Dials (light) and answers (dark) per minute, last " + d.per_minute.length + " minutes: ");
      spark.appendChild(sparkline(d.per_minute));
      box.appendChild(spark);
    }
    var parts = progress(d);
    if (!parts.total) {
      box.appendChild(make("p", "No contacts yet: upload a CSV (Upload contacts, above), then start the campaign.", "live-empty"));
    } else {
      box.appendChild(parts.bar);
      box.appendChild(parts.legend);
    }
    if (d.calls) {
      if (d.calls.length) {
        box.appendChild(callsTable(d.calls));
      } else {
        box.appendChild(make("p", "No call in progress.", "live-no-calls"));
      }
    }
    if (d.outside_window.length) {
      box.appendChild(make("p", d.outside_window_contacts + " waiting contacts are outside their calling window; next opening: " +
        opening(d.outside_window[0]), "live-next-window"));
      var list = make("ul");
      d.outside_window.forEach(function (row) {
        list.appendChild(make("li", row.zones.join(" + ") + " (" + row.contacts + "): opens " + opening(row)));
      });
      box.appendChild(list);
    }
    var c = d.compliance;
    if (c) {
      var a = c.abandonment;
      var gov = make("p", "Abandoned (30 days): " + a.abandoned + " of " + a.answered + " answered = " + a.rate_pct +
        " % (limit 3 %)" + (a.governor_limit ? "; concurrency lowered to " + a.governor_limit : ""), "live-abandonment");
      box.appendChild(gov);
      a.history.forEach(function (h) {
        box.appendChild(make("p", local(h.at) + " \u2014 " + h.action + ": " + h.reason)).className = "help";
      });
      if (c.dialing_blocked) {
        box.appendChild(make("p", "Dialing blocked: " + c.dialing_blocked, "live-blocked")).className = "errornote";
      }
    }
    if (d.unknown_zone_contacts) {
      box.appendChild(make("p", d.unknown_zone_contacts + " waiting contacts have no known time zone and will not be called."));
    }
    box.appendChild(make("p", "Updated " + (d.as_of_label || d.as_of), "live-updated")).className = "help";
  }

  function poll(box) {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (d) { render(box, d); window.setTimeout(function () { poll(box); }, POLL_MS); })
      .catch(function () { window.setTimeout(function () { poll(box); }, 3 * POLL_MS); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("campaign_form");
    if (!form) { return; }
    var box = make("div", "Loading live figures\u2026", "campaign-live");
    box.style.cssText = "margin:0 0 1.5em;padding:0.5em 1em;border:1px solid var(--hairline-color);border-radius:4px";
    form.parentNode.insertBefore(box, form);
    poll(box);
  });
})();
