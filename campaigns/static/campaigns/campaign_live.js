/* Live view on a campaign's admin page: calls in flight / limit, dials in the last minute, contacts by
   status and the next window opening. Polls the campaign's live endpoint every few seconds. No library. */
(function () {
  "use strict";
  var POLL_MS = 3000;
  if (!/\/campaign\/\d+\/change\/$/.test(window.location.pathname)) { return; }
  var url = window.location.pathname.replace(/change\/$/, "live/");

  function make(tag, text, id) {
    var node = document.createElement(tag);
    if (text !== undefined) { node.textContent = text; }
    if (id) { node.id = id; }
    return node;
  }

  function local(iso) {
    return iso ? new Date(iso).toLocaleString() : "not within a week";
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
    var counts = make("p", undefined, "live-contacts");
    d.contacts_by_status.forEach(function (s) {
      var span = make("span", s.label + ": ");
      span.appendChild(make("strong", String(s.count)));
      span.style.marginRight = "1.5em";
      span.dataset.status = s.status;
      counts.appendChild(span);
    });
    box.appendChild(counts);
    if (d.outside_window.length) {
      box.appendChild(make("p", d.outside_window_contacts + " waiting contacts are outside their calling window; next opening: " +
        local(d.next_window_opening), "live-next-window"));
      var list = make("ul");
      d.outside_window.forEach(function (row) {
        list.appendChild(make("li", row.zones.join(" + ") + " (" + row.contacts + "): opens " + local(row.opens_at)));
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
    box.appendChild(make("p", "Updated " + new Date(d.as_of).toLocaleTimeString())).className = "help";
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
