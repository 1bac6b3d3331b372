/* pytest-segpendo HTML report: decodes each check's differences (gzip + base64, inlined) when its section comes
   into view, renders rows in chunks as the reader scrolls, and a record's side-by-side view when it is opened.
   No library, no request: the page's Content-Security-Policy forbids any. */
(function () {
  'use strict';
  var CHUNK = parseInt(document.body.getAttribute('data-chunk'), 10) || 100;
  var NAMES = JSON.parse(document.body.getAttribute('data-classes') || '{}');  // class: [label, icon]
  var KNOWN = {'class': 1, kind: 1, record: 1, fields: 1, expected: 1, observed: 1};
  var IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
  var views = {};

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (k === 'text') node.textContent = attrs[k];
        else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) node.setAttribute(k, attrs[k]);
      }
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return node;
  }
  function fmt(n) { return Number(n).toLocaleString('en-US'); }
  function fold(path) { return path.replace(/\[\d+\]/g, '[*]'); }
  function show(value) { return value === undefined ? '(absent)' : JSON.stringify(value); }
  function badge(cls) {
    var name = NAMES[cls] || [cls, '?'];
    return el('span', {'class': 'badge c-' + cls}, [el('span', {'aria-hidden': 'true', text: name[1]}), ' ' + name[0]]);
  }

  function decode(node) {
    var text = node.textContent.trim();
    if (!text) return Promise.resolve([]);
    var bin = atob(text);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Response(stream).text().then(JSON.parse);
  }

  /* A record as indented JSON, one entry per line, each line knowing its path (the report's path syntax:
     metadata.plan, properties.items[0], metadata["first name"]); lines under a differing path are marked. */
  function step(path, key) {
    if (typeof key === 'number') return path + '[' + key + ']';
    if (IDENT.test(key)) return path ? path + '.' + key : key;
    return path + '[' + JSON.stringify(key) + ']';
  }
  function jsonLines(value, marked) {
    var out = [];
    function walk(v, path, indent, prefix, comma, on) {
      on = on || marked.has(path);
      if (v !== null && typeof v === 'object') {
        var isArray = Array.isArray(v);
        var keys = isArray ? v.map(function (_, i) { return i; }) : Object.keys(v);
        if (!keys.length) { out.push([indent + prefix + (isArray ? '[]' : '{}') + comma, on]); return; }
        out.push([indent + prefix + (isArray ? '[' : '{'), on]);
        keys.forEach(function (k, j) {
          walk(v[k], step(path, k), indent + '  ', isArray ? '' : JSON.stringify(k) + ': ', j < keys.length - 1 ? ',' : '', on);
        });
        out.push([indent + (isArray ? ']' : '}') + comma, on]);
      } else {
        out.push([indent + prefix + JSON.stringify(v) + comma, on]);
      }
    }
    walk(value, '', '', '', '', false);
    return out;
  }
  function side(title, record, marked, none) {
    var box = el('div', {'class': 'side'}, [el('h4', {text: title})]);
    if (!record) { box.appendChild(el('div', {'class': 'none', text: none})); return box; }
    var pre = el('pre', {tabindex: '0', 'aria-label': title});
    jsonLines(record, marked).forEach(function (line) {
      pre.appendChild(el('span', {'class': line[1] ? 'ln hl' : 'ln', text: line[0]}));
    });
    box.appendChild(pre);
    return box;
  }

  function RunView(section) {
    this.section = section;
    this.id = section.id;
    this.form = section.querySelector('form.filters');
    this.list = document.getElementById(this.id + '-list');
    this.more = document.getElementById(this.id + '-more');
    this.shown = document.getElementById(this.id + '-shown');
    this.dataNode = document.getElementById(this.id + '-data');
    this.data = null;
    this.text = null;
    this.matches = [];
    this.rendered = 0;
    this.loading = null;
    var self = this;
    if (!this.form) return;
    var timer = null;
    this.form.addEventListener('input', function (e) {
      clearTimeout(timer);
      timer = setTimeout(function () { self.apply(); }, e.target.type === 'search' ? 150 : 0);
    });
    this.form.addEventListener('change', function () { clearTimeout(timer); self.apply(); });
    this.form.addEventListener('submit', function (e) { e.preventDefault(); self.apply(); });
    this.form.addEventListener('reset', function () { setTimeout(function () { self.apply(); }, 0); });
    this.more.addEventListener('click', function () { self.renderMore(); });
    this.list.addEventListener('click', function (e) {
      var button = e.target.closest('button.toggle');
      if (button) self.toggle(button);
    });
    if ('IntersectionObserver' in window) {
      new IntersectionObserver(function (entries) {
        if (entries.some(function (x) { return x.isIntersecting; }) && !self.more.hidden) self.renderMore();
      }, {rootMargin: '400px'}).observe(this.more);
    }
  }
  RunView.prototype.load = function () {
    var self = this;
    if (!this.form) return Promise.resolve();
    if (!this.loading) {
      this.loading = decode(this.dataNode).then(function (data) {
        self.data = data;
        self.apply();
      }).catch(function (err) {
        self.shown.textContent = 'The differences could not be decoded (' + err + '); the JSON report lists them.';
      });
    }
    return this.loading;
  };
  RunView.prototype.filters = function () {
    var f = this.form;
    var classes = {};
    Array.prototype.forEach.call(f.querySelectorAll('input[name=class]'), function (box) { if (box.checked) classes[box.value] = 1; });
    function val(name) { var c = f.elements[name]; return c ? c.value.trim() : ''; }
    return {classes: classes, kind: val('kind'), field: val('field'), event: val('event'),
            id: val('id').toLowerCase(), q: val('q').toLowerCase()};
  };
  RunView.prototype.matchesId = function (d, id) {
    if ((d.record || '').toLowerCase().indexOf(id) >= 0) return true;
    var recs = [d.expected, d.observed];
    for (var r = 0; r < 2; r++) {
      var rec = recs[r];
      if (!rec) continue;
      var ids = [rec.id, rec.visitorId, rec.accountId, rec.parentAccountId];
      for (var i = 0; i < ids.length; i++) {
        if (ids[i] !== undefined && ids[i] !== null && String(ids[i]).toLowerCase().indexOf(id) >= 0) return true;
      }
    }
    return false;
  };
  RunView.prototype.apply = function () {
    if (!this.data) { this.load(); return; }
    var f = this.filters();
    var data = this.data;
    if (f.q && !this.text) this.text = data.map(function (d) { return JSON.stringify(d).toLowerCase(); });
    var out = [];
    for (var i = 0; i < data.length; i++) {
      var d = data[i];
      if (!f.classes[d['class']]) continue;
      if (f.kind && d.kind !== f.kind) continue;
      if (f.field && !(d.fields || []).some(function (x) { return fold(x.path) === f.field; })) continue;
      if (f.event) {
        var rec = d.expected || d.observed || {};
        if (rec.kind !== 'track' || rec.event !== f.event) continue;
      }
      if (f.id && !this.matchesId(d, f.id)) continue;
      if (f.q && this.text[i].indexOf(f.q) < 0) continue;
      out.push(i);
    }
    this.matches = out;
    this.rendered = 0;
    this.list.textContent = '';
    this.renderMore();
  };
  RunView.prototype.renderMore = function () {
    var end = Math.min(this.matches.length, this.rendered + CHUNK);
    var frag = document.createDocumentFragment();
    for (var k = this.rendered; k < end; k++) frag.appendChild(this.row(this.matches[k]));
    this.list.appendChild(frag);
    this.rendered = end;
    var left = this.matches.length - end;
    this.more.hidden = left <= 0;
    this.more.textContent = 'Show ' + fmt(Math.min(CHUNK, left)) + ' more (' + fmt(left) + ' left)';
    this.shown.textContent = 'Showing ' + fmt(end) + ' of ' + fmt(this.matches.length) + ' differences matching the filters (' +
      fmt(this.data.length) + ' in this check).';
    this.shown.setAttribute('data-matches', this.matches.length);
  };
  RunView.prototype.row = function (i) {
    var d = this.data[i];
    var brief = '';
    if (d.fields && d.fields.length) {
      brief = d.fields.slice(0, 3).map(function (f) { return f.path; }).join(', ') + (d.fields.length > 3 ? ', \u2026 (' + d.fields.length + ' fields)' : '');
    } else if (d.reason) {
      brief = d.reason;
    } else if (d['class'] === 'missing') {
      brief = 'expected, not received';
    } else if (d['class'] === 'unexpected') {
      brief = 'received, not expected';
    }
    if (d.count && d.count > 1) brief = (brief ? brief + '; ' : '') + d.count + ' more times than expected';
    var detailId = this.id + '-d' + i;
    return el('li', {'class': 'diff c-' + d['class'], 'data-i': i, 'data-class': d['class'], 'data-kind': d.kind || ''}, [
      el('button', {type: 'button', 'class': 'toggle', 'aria-expanded': 'false', 'aria-controls': detailId}, [
        badge(d['class']), el('span', {'class': 'kind', text: d.kind || ''}),
        el('span', {'class': 'rec', text: d.record || ''}), brief ? el('span', {'class': 'brief', text: brief}) : null]),
      el('div', {'class': 'detail', id: detailId, hidden: 'hidden'})]);
  };
  RunView.prototype.toggle = function (button) {
    var li = button.parentNode;
    var detail = li.querySelector('.detail');
    var open = button.getAttribute('aria-expanded') === 'true';
    if (!open && !detail.firstChild) this.fill(detail, this.data[+li.getAttribute('data-i')]);
    button.setAttribute('aria-expanded', open ? 'false' : 'true');
    detail.hidden = open;
  };
  RunView.prototype.fill = function (detail, d) {
    var marked = new Set((d.fields || []).map(function (f) { return f.path; }));
    if (d.fields && d.fields.length) {
      var body = el('tbody');
      d.fields.forEach(function (f) {
        body.appendChild(el('tr', null, [el('th', {scope: 'row', text: f.path}),
          el('td', {'class': 'exp', text: show(f.expected)}), el('td', {'class': 'act', text: show(f.actual)})]));
      });
      detail.appendChild(el('table', {'class': 'fields'}, [el('caption', {text: 'Fields that differ'}),
        el('thead', null, [el('tr', null, [el('th', {scope: 'col', text: 'field'}), el('th', {scope: 'col', text: 'expected'}),
          el('th', {scope: 'col', text: 'received'})])]), body]));
    }
    var extra = Object.keys(d).filter(function (k) { return !KNOWN[k]; });
    if (extra.length) {
      var dl = el('dl', {'class': 'kv'});
      extra.forEach(function (k) {
        var v = d[k];
        dl.appendChild(el('dt', {text: k}));
        dl.appendChild(el('dd', {text: typeof v === 'string' ? v : JSON.stringify(v, null, 2)}));
      });
      detail.appendChild(dl);
    }
    if (d.expected || d.observed) {
      var cls = d['class'];
      detail.appendChild(el('div', {'class': 'sides'}, [
        side('expected', d.expected, marked, cls === 'unexpected' || cls === 'duplicated' ? 'nothing expected' : 'no expected record'),
        side('received by Pendo', d.observed, marked, cls === 'missing' ? 'not received' : 'no received record')]));
    }
  };

  function copy(button) {
    var node = document.getElementById(button.getAttribute('data-copy'));
    var status = button.parentNode.querySelector('.copied');
    var text = node.textContent;
    function done(ok) { if (status) { status.textContent = ok ? 'copied' : 'select the line and copy it'; setTimeout(function () { status.textContent = ''; }, 2500); } }
    function fallback() {
      var range = document.createRange();
      range.selectNodeContents(node);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      done(ok);
    }
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
    else fallback();
  }

  function chartFilter(bar) {
    var section = bar.closest('section.run');
    var view = section && views[section.id];
    if (!view || !view.form) return;
    var f = view.form;
    var set = false;
    ['field', 'event', 'kind', 'id'].forEach(function (name) {
      var value = bar.getAttribute('data-filter-' + name);
      if (value === null || !f.elements[name]) return;
      f.elements[name].value = value;
      set = true;
    });
    if (!set) return;
    view.apply();
    f.scrollIntoView({block: 'start'});
    f.querySelector('input, select').focus({preventScroll: true});
  }

  document.addEventListener('click', function (e) {
    var t = e.target;
    if (t.closest && t.closest('button.copy')) copy(t.closest('button.copy'));
    var bar = t.closest && t.closest('svg .bar.filterable');
    if (bar) chartFilter(bar);
  });
  document.addEventListener('keydown', function (e) {
    var bar = e.target.closest && e.target.closest('svg .bar.filterable');
    if (bar && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); chartFilter(bar); }
  });

  var sections = Array.prototype.slice.call(document.querySelectorAll('section.run'));
  sections.forEach(function (s) { views[s.id] = new RunView(s); });
  function loadFor(id) { if (views[id]) views[id].load(); }
  if (sections.length === 1 || !('IntersectionObserver' in window)) {
    sections.forEach(function (s) { loadFor(s.id); });
  } else {
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (x) { if (x.isIntersecting) { loadFor(x.target.id); seen.unobserve(x.target); } });
    }, {rootMargin: '200px'});
    sections.forEach(function (s) { seen.observe(s); });
  }
  window.addEventListener('hashchange', function () { loadFor(location.hash.slice(1)); });
  window.segpendoReport = {views: views, ready: function () {
    return Promise.all(sections.map(function (s) { return views[s.id].load(); }));
  }};
})();
