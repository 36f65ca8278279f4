/* Footfall browser tracker: page views, clicks and purchases, sent to a Footfall collector as
   Segment-spec messages. One global (window.footfall); nothing in here may throw into the host page. */
((w, d, nav) => {
  const VERSION = '0.1.0';
  const MAX_QUEUE = 200; // messages kept in localStorage while the collector cannot be reached
  const BATCH_SIZE = 20; // send at once when this many are waiting...
  const BATCH_DELAY = 1000; // ...or after this many ms
  const MAX_BATCH = 50;
  const CLICKABLE = 'a,button,[role=button],[type=submit],[type=button]';

  var loc = w.location;
  var stub = w.footfall;
  var api = { version: VERSION };
  var mem = {};
  var ls, script, attr, endpoint, hashRoutes, autoClicks, blocked, debugOn; // set up at the start
  var aid, uid, resetId, off, lastUrl, timer, waitUntil;
  var fails = 0;
  var busy = {}; // messageIds in flight from this page: never in two requests at once
  var referrer = d.referrer; // of the current page view: the page before it (after an SPA navigation, the app's own)

  /* Helpers */
  var log = (...a) => debugOn && console.log('footfall', ...a);
  var safe =
    (f) =>
    (...a) => {
      try {
        return f(...a);
      } catch (e) {
        log(e);
      }
    };
  var now = Date.now;
  // A version 4 UUID. (crypto.randomUUID exists only on https pages and localhost.)
  var uuid = () =>
    ([1e7] + -1e3 + -4e3 + -8e3 + -1e11).replace(/[018]/g, (c) =>
      (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16)
    );

  /* Storage: localStorage when the browser allows it, else this page's memory */
  var get = (k) => {
    try {
      if (ls) return ls.getItem('ff_' + k);
    } catch (e) {}
    return mem[k];
  };
  var set = (k, v) => {
    mem[k] = v;
    try {
      ls && (v == null ? ls.removeItem('ff_' + k) : ls.setItem('ff_' + k, v));
    } catch (e) {
      ls = 0;
    }
  };
  // The anonymousId is also kept in a first-party cookie of the site (not the collector's cookie).
  var cookie = (v) => {
    try {
      if (v === undefined) return (d.cookie.match(/ff_aid=([^;]+)/) || [])[1];
      d.cookie = 'ff_aid=' + v + ';path=/;samesite=lax;max-age=' + (v ? 31536000 : 0);
    } catch (e) {}
  };
  var saveIds = () => {
    set('aid', aid);
    set('uid', uid);
    set('reset', resetId);
    cookie(aid || '');
  };
  var load = () => {
    try {
      return JSON.parse(get('q')) || [];
    } catch (e) {
      return [];
    }
  };
  var save = (q) => {
    set('q', q.length ? JSON.stringify(q.slice(-MAX_QUEUE)) : null);
  };
  // A new anonymous ID; its first batch says `reset` so that the collector's cookie takes it.
  var newAnonymous = () => {
    aid = resetId = uuid();
    saveIds();
  };

  /* Delivery */
  var schedule = (ms) => {
    clearTimeout(timer);
    timer = setTimeout(safe(send), ms);
  };
  var backoff = (retryAfter) => {
    var s = +retryAfter; // the collector sends seconds
    fails++;
    waitUntil = now() + (s > 0 ? s * 1e3 : Math.min(6e4, 500 * 2 ** fails) * (1 + Math.random()) / 2);
    if (s > 0) set('wait', waitUntil);
    schedule(waitUntil - now());
  };
  var send = () => {
    clearTimeout(timer);
    timer = 0;
    if (off) return;
    if (now() < waitUntil) return schedule(waitUntil - now());
    // One batch: messages not in flight that share the oldest message's anonymousId (the collector
    // gives a whole batch one ID, so messages from before and after a reset never share one, and a
    // new ID's messages wait until the old ID's in-flight ones are answered: no overtaking).
    var batch = [];
    var id;
    load().some((m) => {
      id = id || m.anonymousId;
      if (m.anonymousId != id) return true;
      busy[m.messageId] || batch.push(m);
      return batch.length >= MAX_BATCH;
    });
    if (!batch.length) return;
    var body = JSON.stringify({ batch: batch, sentAt: new Date().toISOString(), reset: id == resetId });
    var ids = batch.map((m) => (busy[m.messageId] = m.messageId));
    fetch(endpoint, {
      method: 'POST',
      body: body, // a string: text/plain, so no CORS preflight
      credentials: 'include', // carries the collector's cookie
      // Survives the page. Browsers cap keepalive bodies at 64 KB; a UTF-16 character is at most
      // 3 bytes of UTF-8, so 20,000 characters always fit. A larger batch is sent without it.
      keepalive: body.length < 2e4,
    })
      .then((r) => {
        var status = r.status;
        if (status > 499 || status == 429 || status == 408) return backoff(r.headers.get('Retry-After'));
        // Stored, or refused for good (bad key, invalid messages): either way not to be sent again.
        save(load().filter((m) => ids.indexOf(m.messageId) < 0));
        fails = 0;
        set('wait');
        return r.json().then((res) => {
          log(status, res);
          if (status < 300) {
            if (id == resetId) set('reset', (resetId = null));
            // The collector's cookie decides the anonymousId: adopt its answer.
            if (id == aid && res.anonymousId && res.anonymousId != aid) {
              aid = res.anonymousId;
              saveIds();
            }
          }
          send(); // the next batch, if any
        });
      }, (e) => {
        log(e); // offline, or the collector is down
        backoff();
      })
      .catch(log)
      .then(() => {
        ids.forEach((i) => {
          delete busy[i];
        });
      });
  };

  var enqueue = (type, fields) => {
    if (off) return;
    var m = {
      type: type,
      messageId: uuid(),
      anonymousId: aid,
      userId: uid,
      timestamp: new Date().toISOString(),
      context: {
        page: pageFacts(),
        library: { name: 'footfall.js', version: VERSION },
        locale: nav.language,
        screen: { width: screen.width, height: screen.height },
      },
      ...fields,
    };
    log(type, m);
    var q = load();
    q.push(m);
    save(q);
    if (q.filter((m) => !busy[m.messageId]).length >= BATCH_SIZE) send();
    else timer || schedule(BATCH_DELAY);
  };

  /* Page views */
  var pageFacts = () => ({ url: loc.href, path: loc.pathname, referrer: referrer, title: d.title, search: loc.search });
  var currentUrl = () => (hashRoutes ? loc.href : loc.href.split('#')[0]);
  var autoPage = safe(() => {
    currentUrl() != lastUrl && api.page();
  });

  /* Clicks */
  var selector = (el) => {
    for (var parts = [], s, same; el?.parentElement; el = el.parentElement) {
      s = el.localName;
      if (el.id) {
        parts.unshift(s + '#' + CSS.escape(el.id));
        break;
      }
      same = [...el.parentElement.children].filter((x) => x.localName == s);
      parts.unshift(same.length > 1 ? s + ':nth-of-type(' + (same.indexOf(el) + 1) + ')' : s);
    }
    return parts.join('>');
  };
  var onClick = (e) => {
    var t = e.target;
    var el = t.closest?.('[data-footfall-event]') || (autoClicks && t.closest(CLICKABLE));
    if (!el) return;
    var props = {
      tag: el.localName,
      id: el.id || undefined,
      classes: el.classList.length ? [...el.classList] : undefined,
      href: el.href?.baseVal ?? el.href, // an SVG link's href is an object
      // Rendered text only: innerText holds no form field's value (an <input> has none), and
      // nothing of an element that is, or is inside, an editable area (what a visitor typed).
      text: el.isContentEditable ? undefined : el.innerText?.trim().replace(/\s+/g, ' ').slice(0, 100),
      selector: selector(el),
    };
    [].forEach.call(el.attributes, (a) => {
      var m = a.name.match(/^data-footfall-prop-(.+)/);
      if (m) props[m[1].replace(/-/g, '_')] = a.value;
    });
    api.track(el.getAttribute('data-footfall-event') || 'Element Clicked', props);
  };

  /* The API */
  var methods = {
    page(name, properties) {
      if (typeof name == 'object') {
        properties = name;
        name = undefined;
      }
      if (lastUrl && lastUrl != currentUrl()) referrer = lastUrl; // an SPA navigation: the app's previous URL
      lastUrl = currentUrl();
      enqueue('page', { name: name, properties: { ...pageFacts(), ...properties } });
    },
    track(event, properties) {
      enqueue('track', { event: '' + event, properties: properties || {} });
    },
    purchase(order) {
      api.track('Order Completed', order);
    },
    identify(userId, traits) {
      if (userId && typeof userId == 'object') {
        traits = userId;
        userId = uid;
      }
      if (off) return;
      if (userId != null) uid = '' + userId;
      saveIds();
      enqueue('identify', { traits: traits || {} });
    },
    alias(userId, previousId) {
      enqueue('alias', { userId: '' + userId, previousId: previousId || uid || aid });
    },
    reset() {
      if (off) return;
      uid = null;
      newAnonymous();
    },
    consent(granted) {
      if (!granted) {
        off = 1;
        aid = uid = resetId = null;
        saveIds();
        set('q');
        set('off', 1);
      } else if (get('off')) {
        set('off');
        off = blocked;
        off || newAnonymous();
      }
    },
    ready(callback) {
      callback(api);
    },
    debug(on) {
      debugOn = on !== false;
    },
  };

  /* Start */
  if (stub?.version) return; // loaded twice
  try {
    script = d.currentScript || d.querySelector('script[data-write-key]');
    attr = (name) => script.getAttribute('data-' + name);
    var flag = (name, dflt) => {
      var v = attr(name);
      return v == null ? dflt : v != 'false';
    };
    endpoint =
      (attr('host') || (script.src ? new URL(script.src).origin : loc.origin)) +
      '/v1/batch?writeKey=' +
      encodeURIComponent(attr('write-key'));
    hashRoutes = flag('hash', false);
    autoClicks = flag('auto-clicks', true);
    blocked = flag('respect-dnt', true) && (nav.doNotTrack == '1' || w.doNotTrack == '1' || nav.globalPrivacyControl);
    debugOn = flag('debug', false);
    try {
      ls = w.localStorage;
      ls.getItem('ff_');
    } catch (e) {
      ls = 0;
    }
    off = blocked || get('off'); // '1' when opted out
    if (!off) {
      aid = get('aid') || cookie() || uuid();
      uid = get('uid');
      resetId = get('reset');
      saveIds();
    }
    waitUntil = +get('wait') || 0;
    Object.keys(methods).forEach((k) => {
      api[k] = safe(methods[k]);
    });
    w.footfall = api;
    (stub?.q || []).forEach((call) => {
      api[call[0]] && api[call[0]](...call[1]);
    });

    var on = (target, type, f) => {
      target.addEventListener(type, safe(f), true);
    };
    if (flag('auto-page', true)) {
      ['pushState', 'replaceState'].forEach((k) => {
        var original = history[k];
        history[k] = function () {
          var r = original.apply(this, arguments);
          setTimeout(autoPage); // after the router has set the new title
          return r;
        };
      });
      on(w, 'popstate', () => setTimeout(autoPage)); // also fired by hash changes; after the router's own listener
      autoPage();
    }
    on(d, 'click', onClick);
    // Flush when the page may go away; fetch keepalive outlives the page.
    on(d, 'visibilitychange', () => {
      d.hidden && send();
    });
    on(w, 'pagehide', send);
    on(w, 'online', () => {
      fails = 0;
      waitUntil = +get('wait') || 0;
      send();
    });
    schedule(BATCH_DELAY); // messages left by an earlier page
  } catch (e) {
    log(e);
  }
})(window, document, navigator);
