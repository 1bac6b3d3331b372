/*
 * The Pendo Web (Actions) destination, as it runs in a browser (device mode), in plain JavaScript.
 *
 * What segmentio/action-destinations `browser-destinations/destinations/pendo-web-actions` does with the
 * Pendo agent, with the default mappings, and the part of analytics.js it relies on: the user id and traits
 * and the group id and traits that analytics.js remembers in localStorage, so that they survive page loads.
 * It mirrors the toolkit's profile `web-actions` (pytest_segpendo/profiles/web_actions.py) rule for rule:
 *
 *   page load      pendo.initialize({visitor: {...userTraits, id: userId || '_PENDO_T_' + anonymousId},
 *                                    account: groupId ? {...groupTraits, id: groupId} : undefined})
 *   identify       analytics.js: same user id -> traits merge, another user id -> traits reset; then
 *                  pendo.identify({visitor: {...traits, id: userId},
 *                                  account: {id: context.groupId if that key exists, else groupId,
 *                                            else the group id analytics.js remembers}})
 *   group          analytics.js: same for the group; then
 *                  pendo.identify({visitor: {id: userId}, account: {...traits without parentAccount, id: groupId},
 *                                  parentAccount: traits.parentAccount})
 *   track          pendo.track(event, properties)
 *   page, screen,  nothing (a page load still initializes Pendo: the page does that)
 *   alias
 *
 * Ids are spread last (`{...traits, id}`): a trait named `id` never replaces the id.
 * A user id seen on a non-identify event is one analytics.js already knew (from an earlier page of the site).
 *
 * Use: `const d = SegpendoWebActions.create({pendo, install, settings, bugs})`; `d.load(firstEvent)` when
 * the page loads, then `d.handle(event)` for each event of the visit, first one included.
 * `install` is merged into the options of `pendo.initialize` (apiKey, dataHost, ...: what the Pendo snippet
 * gets); `bugs` turns on deliberate mistakes, to see a conformance check fail.
 */
(function (global) {
  'use strict';

  // analytics.js's own localStorage keys (values JSON-encoded, as analytics.js writes them)
  var KEYS = {
    anonymousId: 'ajs_anonymous_id',
    userId: 'ajs_user_id',
    userTraits: 'ajs_user_traits',
    groupId: 'ajs_group_id',
    groupTraits: 'ajs_group_properties'
  };

  var BUGS = {
    dropVisitorTraits: 'identify sends the visitor id without its traits'
  };

  function isPlainObject(value) {
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  }

  // `==` of two JSON values as the profile (Python) compares them: deep, and true == 1.
  function same(a, b) {
    if ((typeof a === 'boolean' || typeof a === 'number') && (typeof b === 'boolean' || typeof b === 'number')) {
      return Number(a) === Number(b);
    }
    if (Array.isArray(a) || Array.isArray(b)) {
      if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
      for (var i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
      return true;
    }
    if (isPlainObject(a) || isPlainObject(b)) {
      if (!isPlainObject(a) || !isPlainObject(b)) return false;
      var keys = Object.keys(a);
      if (keys.length !== Object.keys(b).length) return false;
      for (var j = 0; j < keys.length; j++) {
        if (!Object.prototype.hasOwnProperty.call(b, keys[j]) || !same(a[keys[j]], b[keys[j]])) return false;
      }
      return true;
    }
    return a === b;
  }

  // mapping-kit's `@path` lookup (actions-core get.ts for dotted paths): stops at a falsy value.
  function get(obj, path) {
    var keys = path.replace(/^\$\.?/, '').split('.');
    for (var i = 0; i < keys.length; i++) {
      if (!keys[i]) continue;
      if (!obj) return obj;
      obj = obj[keys[i]];
    }
    return obj;
  }

  // The actions' default mappings: the payload each action gets (undefined fields left out).
  function payload(fields, event) {
    var out = {};
    Object.keys(fields).forEach(function (name) {
      var value = fields[name](event);
      if (value !== undefined) out[name] = value;
    });
    return out;
  }

  var MAPPINGS = {
    identify: {
      visitorId: function (e) { return get(e, '$.userId'); },
      visitorData: function (e) { return get(e, '$.traits'); },
      accountId: function (e) {
        // {"@if": {"exists": {"@path": "$.context.groupId"}, "then": ..., "else": {"@path": "$.groupId"}}}
        var probe = get(e, '$.context.groupId');
        return probe !== null && probe !== undefined ? get(e, '$.context.groupId') : get(e, '$.groupId');
      }
    },
    group: {
      visitorId: function (e) { return get(e, '$.userId'); },
      accountId: function (e) { return get(e, '$.groupId'); },
      accountData: function (e) { return get(e, '$.traits'); },
      parentAccountData: function (e) { return get(e, '$.traits.parentAccount'); }
    },
    track: {
      event: function (e) { return get(e, '$.event'); },
      metadata: function (e) { return get(e, '$.properties'); }
    }
  };

  // analytics.js's memory, in localStorage
  function Memory(storage) {
    this.storage = storage;
  }
  Memory.prototype.has = function (name) {
    return this.storage.getItem(KEYS[name]) !== null;
  };
  Memory.prototype.read = function (name) {
    var raw = this.storage.getItem(KEYS[name]);
    if (raw === null) return name === 'userTraits' || name === 'groupTraits' ? {} : null;
    try {
      var value = JSON.parse(raw);
      return value === undefined ? null : value;
    } catch (e) {
      return raw; // an id written as a bare string
    }
  };
  Memory.prototype.write = function (name, value) {
    this.storage.setItem(KEYS[name], JSON.stringify(value === undefined ? null : value));
  };

  // User.identify / Group.identify: traits merge for the same id, reset for another; a falsy id keeps the id.
  function remember(memory, idName, traitsName, newId, traits) {
    var currentId = memory.read(idName);
    var currentTraits = memory.read(traitsName);
    traits = isPlainObject(traits) ? traits : {};
    if (currentId === null || same(currentId, newId)) {
      traits = Object.assign({}, currentTraits, traits);
    }
    memory.write(idName, newId ? newId : currentId);
    memory.write(traitsName, traits);
  }

  function create(options) {
    var pendo = options.pendo;
    var install = options.install || {};
    var settings = Object.assign(
      {disableUserTraitsOnLoad: false, disableGroupIdAndTraitsOnLoad: false},
      options.settings || {}
    );
    var bugs = {};
    (options.bugs || []).forEach(function (name) {
      if (!Object.prototype.hasOwnProperty.call(BUGS, name)) throw new Error('unknown bug ' + JSON.stringify(name));
      bugs[name] = true;
    });
    var memory = new Memory(options.storage || global.localStorage);
    var calls = []; // what was passed to the agent, for the report

    function call(fn, args) {
      calls.push([fn].concat(JSON.parse(JSON.stringify(args, function (k, v) { return v === undefined ? null : v; }))));
      return pendo[fn].apply(pendo, args);
    }

    // what analytics.js knows before it handles the event
    function observe(event) {
      if (!memory.has('anonymousId')) {
        // a new browser: analytics.js makes (here: takes) its anonymous id
        memory.write('anonymousId', event.anonymousId ? event.anonymousId : null);
      }
      if (memory.read('userId') === null && event.userId && event.type !== 'identify') {
        memory.write('userId', event.userId); // analytics.js already knew the user
      }
    }

    // the destination's initialize(), at every page load
    function load(firstEvent) {
      if (firstEvent) observe(firstEvent);
      var userId = memory.read('userId');
      var anonymousId = memory.read('anonymousId');
      var groupId = memory.read('groupId');
      var visitor = settings.disableUserTraitsOnLoad ? {} : Object.assign({}, memory.read('userTraits'));
      visitor.id = userId ? userId : anonymousId ? '_PENDO_T_' + anonymousId : null;
      var opts = {visitor: visitor};
      if (groupId && !settings.disableGroupIdAndTraitsOnLoad) {
        opts.account = Object.assign({}, memory.read('groupTraits'), {id: groupId});
      }
      call('initialize', [Object.assign({}, opts, install)]);
      return opts;
    }

    function identify(event) {
      var p = payload(MAPPINGS.identify, event);
      var visitor = bugs.dropVisitorTraits ? {} : Object.assign({}, p.visitorData);
      visitor.id = p.visitorId;
      var opts = {visitor: visitor};
      var storedGroupId = memory.read('groupId');
      if (p.accountId) {
        opts.account = {id: p.accountId};
      } else if (storedGroupId && !settings.disableGroupIdAndTraitsOnLoad) {
        opts.account = {id: storedGroupId};
      }
      call('identify', [opts]);
    }

    function group(event) {
      var p = payload(MAPPINGS.group, event);
      var data = p.accountData;
      if (isPlainObject(data)) {
        data = Object.assign({}, data);
        delete data.parentAccount; // removeNestedObject: parentAccount is lifted out of the account
      }
      var account = Object.assign({}, data);
      account.id = p.accountId;
      var opts = {visitor: {id: p.visitorId}, account: account};
      if (p.parentAccountData) opts.parentAccount = p.parentAccountData;
      call('identify', [opts]);
    }

    function track(event) {
      var p = payload(MAPPINGS.track, event);
      call('track', [p.event, p.metadata]);
    }

    // one Segment event: analytics.js's memory, then the action subscribed to its type
    function handle(event) {
      observe(event);
      var type = event.type;
      if (type === 'identify') {
        remember(memory, 'userId', 'userTraits', event.userId, event.traits);
        identify(event);
      } else if (type === 'group') {
        remember(memory, 'groupId', 'groupTraits', event.groupId, event.traits);
        group(event);
      } else if (type === 'track') {
        track(event);
      }
      // page, screen, alias: no action
    }

    return {load: load, handle: handle, calls: calls, settings: settings, bugs: Object.keys(bugs)};
  }

  global.SegpendoWebActions = {create: create, BUGS: BUGS, KEYS: KEYS};
})(typeof window !== 'undefined' ? window : globalThis);
