/* Footfall browser tracker: page views, clicks and purchases, sent to a Footfall collector as
   Segment-spec messages. One global (window.footfall); nothing in here may throw into the host page.
   The build minifies this file (it renames locals and rewrites statements), so names and statements
   here are written for the reader: they cost nothing in the built script. */
((window, document, navigator) => {
  const VERSION = '0.1.0';
  const MAX_QUEUE = 200; // messages kept in localStorage while the collector cannot be reached
  const BATCH_SIZE = 20; // send at once when this many are waiting...
  const BATCH_DELAY = 1000; // ...or after this many ms
  // Messages in one request: this many of the collector's largest (32 KB) fit in its 500 KB batch limit,
  // so a batch of valid messages is never refused whole (wire/limits.json).
  const MAX_BATCH = 15;
  // Browsers cap keepalive bodies at 64 KB. A UTF-16 character is at most 3 bytes of UTF-8, so a
  // body shorter than this many characters always fits; a longer one is sent without keepalive.
  const KEEPALIVE_CHARACTERS = 20000;
  const CLICKABLE = 'a,button,[role=button],[type=submit],[type=button]';

  var location = window.location;
  var stub = window.footfall; // the snippet's queue of calls made before this script loaded
  var api = { version: VERSION };
  var memoryStorage = {}; // used when localStorage is blocked
  // Set up at the start, from the script tag and the browser.
  var localStore, script, endpoint, hashRoutes, autoClicks, blocked, debugOn;
  var anonymousId, userId, optedOut, timer, waitUntil;
  var resetId; // the anonymousId made by reset(), until the collector has answered its first batch
  var lastUrl; // the URL of the last page view, as the router sees it
  var referrer = document.referrer; // of the current page view: the page before (or the app's previous URL)
  var failures = 0; // requests failed in a row
  var inFlight = {}; // messageIds in requests from this page: none is ever in two requests at once

  /* Helpers */
  var log = (...args) => {
    if (debugOn) console.log('footfall', ...args);
  };
  // The function, made unable to throw: an error is logged (when debug is on) and swallowed.
  var safe =
    (fn) =>
    (...args) => {
      try {
        return fn(...args);
      } catch (error) {
        log(error);
      }
    };
  var now = Date.now;
  // A version 4 UUID. (crypto.randomUUID exists only on https pages and localhost.)
  var uuid = () =>
    ([1e7] + -1e3 + -4e3 + -8e3 + -1e11).replace(/[018]/g, (digit) =>
      (digit ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (digit / 4)))).toString(16)
    );

  /* Page views */
  var pageFacts = () => ({
    url: location.href,
    path: location.pathname,
    referrer: referrer,
    title: document.title,
    search: location.search,
  });
  // The URL as the router sees it: without the hash, unless hash changes are navigations.
  var currentUrl = () => (hashRoutes ? location.href : location.href.split('#')[0]);
  var pageViewIfTheUrlChanged = safe(() => {
    if (currentUrl() != lastUrl) api.page();
  });

  /* The API */
  var methods = {
    page(name, properties) {
      if (typeof name == 'object') {
        properties = name;
        name = undefined;
      }
      // An SPA navigation: the app's previous URL is the new page view's referrer, and that of the
      // messages after it. A page view of the same URL again keeps the referrer.
      if (lastUrl && lastUrl != currentUrl()) referrer = lastUrl;
      lastUrl = currentUrl();
      enqueue('page', { name: name, properties: { ...pageFacts(), ...properties } });
    },
    track(event, properties) {
      enqueue('track', { event: '' + event, properties: properties || {} });
    },
    purchase(order) {
      api.track('Order Completed', order);
    },
    identify(newUserId, traits) {
      if (newUserId && typeof newUserId == 'object') {
        traits = newUserId;
        newUserId = userId;
      }
      if (optedOut) return;
      // Not '', NaN, null or undefined: the collector refuses such a userId, and every later message has it.
      if (newUserId) userId = '' + newUserId;
      saveIds();
      enqueue('identify', { traits: traits || {} });
    },
    alias(newUserId, previousId) {
      enqueue('alias', { userId: '' + newUserId, previousId: previousId || userId || anonymousId });
    },
    reset() {
      if (optedOut) return;
      userId = null;
      startNewAnonymousId();
    },
    consent(granted) {
      if (!granted) {
        optedOut = 1;
        anonymousId = userId = resetId = null;
        saveIds();
        write('q'); // the unsent messages
        write('off', 1);
      } else if (read('off')) {
        write('off');
        optedOut = blocked;
        if (!optedOut) startNewAnonymousId();
      }
    },
    ready(callback) {
      callback(api);
    },
    debug(on) {
      debugOn = on !== false;
    },
  };

  /* Storage: localStorage when the browser allows it, else this page's memory */
  var read = (key) => {
    try {
      if (localStore) return localStore.getItem('ff_' + key);
    } catch (error) {}
    return memoryStorage[key];
  };
  // Stores a value, or removes it when the value is null or undefined.
  var write = (key, value) => {
    memoryStorage[key] = value;
    try {
      if (localStore) {
        if (value == null) localStore.removeItem('ff_' + key);
        else localStore.setItem('ff_' + key, value);
      }
    } catch (error) {
      localStore = 0;
    }
  };
  // The anonymousId is also kept in a first-party cookie of the site (not the collector's cookie).
  // Where cookies are blocked, reading or writing one throws: safe() swallows that.
  var readIdCookie = safe(() => (document.cookie.match(/ff_aid=([^;]+)/) || [])[1]);
  // An empty id deletes the cookie.
  var writeIdCookie = safe((id) => {
    document.cookie = 'ff_aid=' + id + ';path=/;samesite=lax;max-age=' + (id ? 31536000 : 0);
  });
  var saveIds = () => {
    write('aid', anonymousId);
    write('uid', userId);
    write('reset', resetId);
    writeIdCookie(anonymousId || '');
  };
  var parse = safe(JSON.parse); // undefined for damaged JSON
  // The queue of unsent messages, oldest first.
  var loadQueue = () => parse(read('q')) || [];
  var saveQueue = (queue) => {
    write('q', queue.length ? JSON.stringify(queue.slice(-MAX_QUEUE)) : null);
  };
  // A new anonymous ID; its first batch says `reset` so that the collector's cookie takes it.
  var startNewAnonymousId = () => {
    anonymousId = resetId = uuid();
    saveIds();
  };

  /* Delivery */
  var schedule = (delay) => {
    clearTimeout(timer);
    timer = setTimeout(safe(send), delay);
  };
  var backOff = (retryAfter) => {
    var seconds = +retryAfter; // the collector sends seconds
    failures++;
    if (seconds > 0) {
      waitUntil = now() + seconds * 1000;
      write('wait', waitUntil); // honoured by the next pages too
    } else {
      waitUntil = now() + (Math.min(60000, 500 * 2 ** failures) * (1 + Math.random())) / 2;
    }
    schedule(waitUntil - now());
  };

  var send = () => {
    clearTimeout(timer);
    timer = 0;
    if (optedOut) return;
    if (now() < waitUntil) {
      schedule(waitUntil - now());
      return;
    }
    var batch = chooseBatch();
    if (batch.length) post(batch);
  };

  // The next batch: the queued messages not in flight that share the oldest message's anonymousId.
  // The collector gives a whole batch one ID, so messages from before and after a reset never share
  // a batch, and a new ID's messages wait until the old ID's in-flight ones are answered: no
  // message overtakes one of an earlier ID.
  var chooseBatch = () => {
    var queue = loadQueue();
    var batch = [];
    for (var message of queue) {
      if (message.anonymousId != queue[0].anonymousId || batch.length >= MAX_BATCH) break;
      if (!inFlight[message.messageId]) batch.push(message);
    }
    return batch;
  };

  var post = (batch) => {
    var batchAnonymousId = batch[0].anonymousId;
    var body = JSON.stringify({
      batch: batch,
      sentAt: new Date().toISOString(),
      reset: batchAnonymousId == resetId, // the collector's cookie takes this new ID
    });
    // Marks each message in flight, and lists their messageIds.
    var messageIds = batch.map((message) => (inFlight[message.messageId] = message.messageId));
    fetch(endpoint, {
      method: 'POST',
      body: body, // a string: text/plain, so no CORS preflight
      credentials: 'include', // carries the collector's cookie
      keepalive: body.length < KEEPALIVE_CHARACTERS, // survives the page
    })
      .then(
        (response) => handleAnswer(response, batchAnonymousId, messageIds),
        (error) => {
          log(error); // offline, or the collector is down
          backOff();
        }
      )
      .catch(log)
      .then(() => {
        for (var messageId of messageIds) delete inFlight[messageId];
      });
  };

  var handleAnswer = (response, batchAnonymousId, messageIds) => {
    var status = response.status;
    if (status > 499 || status == 429 || status == 408) {
      backOff(response.headers.get('Retry-After'));
      return;
    }
    // Stored, or refused for good (bad key, invalid messages): either way not to be sent again.
    saveQueue(loadQueue().filter((message) => !messageIds.includes(message.messageId)));
    failures = 0;
    write('wait');
    return response.json().then((answer) => {
      log(status, answer);
      if (status < 300) {
        if (batchAnonymousId == resetId) {
          resetId = null;
          write('reset');
        }
        // The collector's cookie decides the anonymousId: adopt its answer.
        if (batchAnonymousId == anonymousId && answer.anonymousId && answer.anonymousId != anonymousId) {
          anonymousId = answer.anonymousId;
          saveIds();
        }
      }
      send(); // the next batch, if any
    });
  };

  var enqueue = (type, fields) => {
    if (optedOut) return;
    var message = {
      type: type,
      messageId: uuid(),
      anonymousId: anonymousId,
      userId: userId,
      timestamp: new Date().toISOString(),
      context: {
        page: pageFacts(),
        library: { name: 'footfall.js', version: VERSION },
        locale: navigator.language,
        screen: { width: screen.width, height: screen.height },
      },
      ...fields,
    };
    log(type, message);
    var queue = loadQueue();
    queue.push(message);
    saveQueue(queue);
    if (queue.filter((queued) => !inFlight[queued.messageId]).length >= BATCH_SIZE) send();
    else if (!timer) schedule(BATCH_DELAY);
  };

  /* Clicks */
  // A CSS selector that finds the element: from its nearest ancestor with an id, or from the root.
  var cssSelector = (element) => {
    var parts = [];
    for (; element?.parentElement; element = element.parentElement) {
      var tag = element.localName;
      if (element.id) {
        parts.unshift(tag + '#' + CSS.escape(element.id));
        break;
      }
      var sameTag = [...element.parentElement.children].filter((sibling) => sibling.localName == tag);
      parts.unshift(sameTag.length > 1 ? tag + ':nth-of-type(' + (sameTag.indexOf(element) + 1) + ')' : tag);
    }
    return parts.join('>');
  };
  var onClick = (event) => {
    var target = event.target;
    var element = target.closest?.('[data-footfall-event]') || (autoClicks && target.closest(CLICKABLE));
    if (!element) return;
    var properties = {
      tag: element.localName,
      id: element.id || undefined,
      classes: element.classList.length ? [...element.classList] : undefined,
      href: element.href?.baseVal ?? element.href, // an SVG link's href is an object
      // Rendered text only: innerText holds no form field's value (an <input> has none), and
      // nothing of an element that is, or is inside, an editable area (what a visitor typed).
      text: element.isContentEditable
        ? undefined
        : element.innerText?.trim().replace(/\s+/g, ' ').slice(0, 100),
      selector: cssSelector(element),
    };
    for (var attribute of element.attributes) {
      var match = attribute.name.match(/^data-footfall-prop-(.+)/);
      if (match) properties[match[1].replace(/-/g, '_')] = attribute.value;
    }
    api.track(element.getAttribute('data-footfall-event') || 'Element Clicked', properties);
  };

  /* Start */
  if (stub?.version) return; // loaded twice
  try {
    script = document.currentScript || document.querySelector('script[data-write-key]');
    var setting = (name) => script.getAttribute('data-' + name);
    // A switch is on unless its value is `false`.
    var switchedOn = (name, byDefault) => {
      var value = setting(name);
      return value == null ? byDefault : value != 'false';
    };
    endpoint =
      (setting('host') || (script.src ? new URL(script.src).origin : location.origin)) +
      '/v1/batch?writeKey=' +
      encodeURIComponent(setting('write-key'));
    hashRoutes = switchedOn('hash', false);
    autoClicks = switchedOn('auto-clicks', true);
    blocked =
      switchedOn('respect-dnt', true) &&
      (navigator.doNotTrack == '1' || window.doNotTrack == '1' || navigator.globalPrivacyControl);
    debugOn = switchedOn('debug', false);
    try {
      localStore = window.localStorage;
      localStore.getItem('ff_'); // throws where storage is blocked
    } catch (error) {
      localStore = 0;
    }
    optedOut = blocked || read('off'); // '1' when opted out
    if (!optedOut) {
      anonymousId = read('aid') || readIdCookie() || uuid();
      userId = read('uid');
      resetId = read('reset');
      saveIds();
    }
    waitUntil = +read('wait') || 0;
    for (var name in methods) api[name] = safe(methods[name]);
    window.footfall = api;
    for (var [method, args] of stub?.q || []) {
      if (api[method]) api[method](...args);
    }

    var listen = (target, type, handler) => {
      target.addEventListener(type, safe(handler), true);
    };
    if (switchedOn('auto-page', true)) {
      ['pushState', 'replaceState'].forEach((historyMethod) => {
        var original = history[historyMethod];
        history[historyMethod] = function () {
          var result = original.apply(this, arguments);
          setTimeout(pageViewIfTheUrlChanged); // after the router has set the new title
          return result;
        };
      });
      // Also fired by hash changes. Run after the router's own listener.
      listen(window, 'popstate', () => setTimeout(pageViewIfTheUrlChanged));
      pageViewIfTheUrlChanged();
    }
    listen(document, 'click', onClick);
    // Flush when the page may go away; fetch keepalive outlives the page.
    listen(document, 'visibilitychange', () => {
      if (document.hidden) send();
    });
    listen(window, 'pagehide', send);
    listen(window, 'online', () => {
      failures = 0;
      waitUntil = +read('wait') || 0;
      send();
    });
    schedule(BATCH_DELAY); // messages left by an earlier page
  } catch (error) {
    log(error);
  }
})(window, document, navigator);
