/*
 * The Pendo Web (Actions) destination, reproduced in plain JavaScript as an analytics-next destination plugin.
 *
 * The real destination (segmentio/action-destinations `browser-destinations/destinations/pendo-web-actions`)
 * is not on the npm registry this project installs from, so its calls to the Pendo agent are reproduced here,
 * with the default mappings (presets). Everything it reads comes from the real `@segment/analytics-next`:
 * the plugin's `load(ctx, analytics)` reads analytics.js's remembered user and group (`analytics.user()`,
 * `analytics.group()`), and its `identify`/`group`/`track` methods get a Context whose `.event` is the event
 * analytics-next built (merged traits, ids from its memory). This file keeps no memory of its own.
 * It mirrors the toolkit's profile `web-actions` (pytest_segpendo/profiles/web_actions.py) rule for rule:
 *
 *   load           pendo.initialize({visitor: {...user.traits(), id: user.id() || '_PENDO_T_' + user.anonymousId()},
 *                                    account: group.id() ? {...group.traits(), id: group.id()} : undefined})
 *   identify       pendo.identify({visitor: {...event.traits, id: event.userId},
 *                                  account: {id: event.context.groupId if that key exists, else event.groupId,
 *                                            else analytics.group().id()}})
 *   group          pendo.identify({visitor: {id: event.userId},
 *                                  account: {...event.traits without parentAccount, id: event.groupId},
 *                                  parentAccount: event.traits.parentAccount})
 *   track          pendo.track(event.event, event.properties)
 *   page, screen,  nothing (a page load still initializes Pendo: `load` does that)
 *   alias
 *
 * Ids are spread last (`{...traits, id}`): a trait named `id` never replaces the id.
 *
 * Use: `const d = SegpendoWebActions.create({pendo, install, settings, bugs})`, then
 * `analytics.register(d.plugin)`. `install` is merged into the options of `pendo.initialize` (apiKey, dataHost,
 * ...: what the Pendo snippet gets); `bugs` turns on deliberate mistakes, to see a conformance check fail.
 * `d.calls` lists what was passed to the agent; `d.events` the events analytics-next handed to the plugin (the
 * fields the mappings read: type, userId, and traits, groupId, event, properties, context.groupId by type).
 */
(function (global) {
  'use strict';

  var NAME = 'Pendo Web (actions)'; // the destination's name (pendo-web-actions/src/index.ts)

  var BUGS = {
    dropVisitorTraits: 'identify sends the visitor id without its traits'
  };

  function isPlainObject(value) {
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  }

  // a JSON copy (undefined written as null), for the page's report
  function copy(value) {
    return value === undefined ? null : JSON.parse(JSON.stringify(value, function (k, v) { return v === undefined ? null : v; }));
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
    var calls = []; // what was passed to the agent, for the report
    var events = []; // the events analytics-next handed to the destination, for the report
    var analytics = null;
    var loaded = false;

    function call(fn, args) {
      calls.push([fn].concat(copy(args)));
      return pendo[fn].apply(pendo, args);
    }

    // the destination's initialize(): at every page load, with what analytics.js remembers
    function initialize() {
      var user = analytics.user();
      var group = analytics.group();
      var visitorId = null;
      if (user.id()) {
        visitorId = user.id();
      } else if (user.anonymousId()) {
        visitorId = '_PENDO_T_' + user.anonymousId();
      }
      var accountId = group.id() ? group.id() : null;
      var opts = {visitor: Object.assign({}, settings.disableUserTraitsOnLoad ? {} : user.traits(), {id: visitorId})};
      if (accountId && !settings.disableGroupIdAndTraitsOnLoad) {
        opts.account = Object.assign({}, group.traits(), {id: accountId});
      }
      call('initialize', [Object.assign({}, opts, install)]);
    }

    var ACTIONS = {
      identify: function (event) {
        var p = payload(MAPPINGS.identify, event);
        var visitor = bugs.dropVisitorTraits ? {} : Object.assign({}, p.visitorData);
        visitor.id = p.visitorId;
        var opts = {visitor: visitor};
        var analyticsGroupId = analytics.group().id();
        if (p.accountId) {
          opts.account = {id: p.accountId};
        } else if (analyticsGroupId && !settings.disableGroupIdAndTraitsOnLoad) {
          opts.account = {id: analyticsGroupId};
        }
        call('identify', [opts]);
      },
      group: function (event) {
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
      },
      track: function (event) {
        var p = payload(MAPPINGS.track, event);
        call('track', [p.event, p.metadata]);
      }
    };

    // the fields of an event the default mappings read (page events: only their type and user), for the report
    var READS = {identify: ['traits'], group: ['groupId', 'traits'], track: ['event', 'properties']};
    function reads(event) {
      var out = {type: event.type, userId: event.userId};
      (READS[event.type] || []).forEach(function (key) { out[key] = event[key]; });
      var probe = get(event, '$.context.groupId');
      if (event.type === 'identify' && probe !== null && probe !== undefined) out.contextGroupId = probe;
      return copy(out);
    }

    // browser-destination-runtime's evaluate(): the action whose subscription (`type = "..."`) the event matches
    function evaluate(ctx) {
      var event = ctx.event;
      events.push(reads(event));
      var action = ACTIONS[event.type];
      if (action) action(event);
      return Promise.resolve(ctx);
    }

    var plugin = {
      name: NAME,
      type: 'destination',
      version: '0.1.0',
      isLoaded: function () { return loaded; },
      ready: function () { return Promise.resolve(); },
      load: function (ctx, instance) {
        analytics = instance;
        initialize();
        loaded = true;
        return Promise.resolve();
      },
      identify: evaluate,
      group: evaluate,
      track: evaluate,
      page: evaluate,
      screen: evaluate,
      alias: evaluate
    };

    return {plugin: plugin, calls: calls, events: events, settings: settings, bugs: Object.keys(bugs)};
  }

  global.SegpendoWebActions = {create: create, BUGS: BUGS, NAME: NAME};
})(typeof window !== 'undefined' ? window : globalThis);
