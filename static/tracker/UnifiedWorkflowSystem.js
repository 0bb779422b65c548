/*! UnifiedWorkflowSystem.js: runs a site's playbooks, tracks every execution and every goal
 * reached, and keeps a holdout group of visitors who see no change.
 * Embed: <script async src=".../UnifiedWorkflowSystem.js" data-site-key="sk_..."></script>
 * (add data-require-consent to track only once the page calls workflowSystem.consent(true)).
 * Nothing here may break the host page: every failure is caught and only logged in debug mode. */
(() => {
  "use strict";
  if (window.WorkflowEngine) return; // loaded twice

  const MAX_BODY_BYTES = 60000; // keepalive requests and beacons carry at most 64 KiB
  // Another page's queue is taken over once that page has left, or has not been seen for this
  // long (a tab that crashed, or one the browser froze in the background).
  const ABANDONED_AFTER_MS = 60000;

  const clock = () => performance.now();
  const randomId = () =>
    Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");

  /** The storage `kind`, or null: probed by writing, so only once tracking is allowed. */
  function storage(kind) {
    try {
      const store = window[kind];
      store.setItem("wf_probe", "1");
      store.removeItem("wf_probe");
      return store;
    } catch {
      return null; // disabled or full: fall back to memory
    }
  }

  /** Read a stored value without writing anything (as tracking that is off must not). */
  function peek(kind, key) {
    try {
      return window[kind].getItem(key);
    } catch {
      return null;
    }
  }

  /** Why the browser asks not to be tracked, or "" when it does not: this always wins. */
  function privacySignal() {
    if (navigator.doNotTrack === "1" || window.doNotTrack === "1") return "Do Not Track";
    if (navigator.globalPrivacyControl === true) return "Global Privacy Control";
    return "";
  }

  /** FNV-1a, 32 bits, of the text's UTF-8 bytes: a visitor gets the same group in every tab. */
  function fnv1a(text) {
    let hash = 0x811c9dc5;
    for (const byte of new TextEncoder().encode(text)) {
      hash ^= byte;
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    return hash >>> 0;
  }

  const utcDay = (iso) => iso.slice(0, 10);

  function detectDevice() {
    const ua = navigator.userAgent;
    if (/iPad|Tablet|PlayBook|Silk|Android(?!.*Mobi)/i.test(ua)) return "tablet";
    if (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1) return "tablet";
    if (/Mobi|iPhone|iPod|Android|BlackBerry|IEMobile|Opera Mini/i.test(ua)) return "mobile";
    return "desktop";
  }

  function textMatches(value, match, expected) {
    const text = String(value || "").toLowerCase();
    const wanted = String(expected || "").toLowerCase();
    if (match === "equals") return text === wanted;
    if (match === "starts_with") return text.startsWith(wanted);
    return text.includes(wanted);
  }

  function insertedText(text) {
    const span = document.createElement("span");
    span.className = "wf-inserted";
    span.textContent = text; // text, never HTML
    return span;
  }

  const APPLY = {
    replace_text: (el, a) => {
      el.textContent = a.text;
    },
    set_attribute: (el, a) => el.setAttribute(a.attribute, a.value),
    add_class: (el, a) => el.classList.add(a.className),
    remove_class: (el, a) => el.classList.remove(a.className),
    set_style: (el, a) => el.style.setProperty(a.property, a.value),
    hide: (el) => el.style.setProperty("display", "none", "important"),
    show: (el) => {
      el.style.removeProperty("display");
      if (getComputedStyle(el).display === "none") el.style.setProperty("display", "block", "important");
    },
    insert_before: (el, a) => el.before(insertedText(a.text)),
    insert_after: (el, a) => el.after(insertedText(a.text)),
  };

  /** Records (executions, or conversions) waiting for the server, kept until it accepts them,
   * refuses them for good, or they are older than it takes. Each page view keeps its own queue
   * (in memory, and a copy in localStorage under a key of its own), so tabs never overwrite
   * each other's; a page view takes over the queues that pages which have left did not
   * deliver. Taken over twice, a record is sent twice and counted once: the server knows its
   * id. `kind` says what is queued: its endpoint, storage prefix, batch key, id and time fields,
   * and the noun of its log lines. */
  class Tracker {
    constructor(engine, kind) {
      this.engine = engine;
      this.kind = kind;
      this.prefix = kind.prefix;
      this.key = `${this.prefix}:${randomId()}`;
      this.queue = [];
      this.dropped = 0;
      this.failures = 0;
      this.timer = null;
      this.dueAt = 0;
      this.retryAt = 0;
      this.sending = false;
      this.heartbeat = setInterval(() => this.queue.length && this.save(), ABANDONED_AFTER_MS / 4);
    }

    /** localStorage once tracking is allowed; until then nothing is stored. */
    get store() {
      return this.engine.local;
    }

    idOf(item) {
      return item.record[this.kind.idField];
    }

    /** Persist this page's queue, with when it was last seen and whether the page has left. */
    save(left = false) {
      if (!this.store) return;
      try {
        if (this.queue.length) this.store.setItem(this.key, JSON.stringify({ at: Date.now(), left, items: this.queue }));
        else this.store.removeItem(this.key);
      } catch {
        // quota exceeded: the queue stays in memory
      }
    }

    /** Take over what other page views left undelivered (and the single queue of earlier
     * versions of this script). */
    adopt() {
      if (!this.store) return;
      const known = new Set(this.queue.map((item) => this.idOf(item)));
      for (let index = this.store.length - 1; index >= 0; index--) {
        const key = this.store.key(index);
        if (!key || key === this.key || (key !== this.prefix && !key.startsWith(`${this.prefix}:`))) continue;
        let saved;
        try {
          saved = JSON.parse(this.store.getItem(key) || "null");
        } catch {
          saved = null;
        }
        const items = Array.isArray(saved) ? saved : saved && saved.items;
        const abandoned = Array.isArray(saved) || !saved || saved.left || Date.now() - saved.at > ABANDONED_AFTER_MS;
        if (!abandoned) continue;
        for (const item of Array.isArray(items) ? items : []) {
          if (item && item.record && !known.has(this.idOf(item))) {
            known.add(this.idOf(item));
            this.queue.push(item);
          }
        }
        this.store.removeItem(key);
      }
      this.bound();
      this.save();
    }

    /** Keep the queue within its bound: the oldest go first, counted. */
    bound() {
      const over = this.queue.length - this.engine.config.maxQueue;
      if (over > 0) {
        this.queue.splice(0, over);
        this.dropped += over;
        this.engine.warn(`❌ Tracking queue full: ${this.dropped} ${this.kind.noun}(s) dropped so far`);
      }
    }

    enqueue(record) {
      this.queue.push({ record, queuedAt: Date.now() });
      this.bound();
      this.save();
      this.schedule(this.engine.config.batchDelayMs);
    }

    schedule(delayMs) {
      const due = Math.max(Date.now() + delayMs, this.retryAt);
      if (this.timer && this.dueAt <= due) return;
      clearTimeout(this.timer);
      this.dueAt = due;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush().catch((error) => this.engine.warn("⚠️ Tracking flush failed:", error));
      }, due - Date.now());
    }

    /** Drop what the server would no longer take (older than its maximum delay). */
    expire() {
      const maxAge = this.engine.rules.maxDelaySeconds * 1000;
      const fresh = this.queue.filter((item) => Date.now() - Date.parse(item.record[this.kind.timeField]) < maxAge);
      if (fresh.length < this.queue.length) {
        this.engine.warn(`❌ ${this.queue.length - fresh.length} ${this.kind.noun}(s) too old to send, dropped`);
        this.queue = fresh;
        this.save();
      }
    }

    /** At most one request's worth of the queue (none before the server's rules are known). */
    batch() {
      if (!this.engine.rules) return [];
      this.expire();
      const items = [];
      let bytes = 0;
      for (const item of this.queue.slice(0, this.engine.rules.maxBatch)) {
        bytes += JSON.stringify(item.record).length;
        if (items.length && bytes > MAX_BODY_BYTES) break;
        items.push(item);
      }
      return items;
    }

    body(items) {
      const siteKey = this.engine.config.siteKey;
      const records = items.map((item) => item.record);
      return JSON.stringify(records.length === 1 ? { ...records[0], siteKey } : { siteKey, [this.kind.batchKey]: records });
    }

    async flush() {
      if (this.sending) return;
      const items = this.batch();
      if (!items.length) return;
      this.sending = true;
      try {
        await this.send(items);
      } finally {
        this.sending = false;
      }
      if (this.queue.length) this.schedule(0);
    }

    async send(items) {
      let response;
      try {
        response = await fetch(this.kind.endpoint, {
          method: "POST",
          // text/plain keeps this a simple request: no CORS preflight.
          headers: { "Content-Type": "text/plain;charset=UTF-8" },
          body: this.body(items),
          keepalive: true,
          credentials: "omit",
        });
      } catch (error) {
        this.engine.warn("❌ Tracking request failed (network, or refused by the page's Content-Security-Policy):", error.message);
        return this.retry(0);
      }
      if (response.status === 408 || response.status === 429 || response.status >= 500) {
        this.engine.warn(`❌ Tracking request failed: HTTP ${response.status}, will retry`);
        return this.retry(Number(response.headers.get("Retry-After")) || 0);
      }
      const answer = await response.json().catch(() => ({}));
      const results = items.length === 1 || !answer.results ? items.map(() => ({ ...answer, status: response.status })) : answer.results;
      // Accepted, or refused for good (a 4xx other than 408 and 429): either way, done.
      items.forEach((item, index) => this.report(item.record, results[index] || answer));
      this.forget(items);
      this.failures = 0;
      this.retryAt = 0;
    }

    report(record, result) {
      const noun = this.kind.noun[0].toUpperCase() + this.kind.noun.slice(1);
      if (result.success && result.counted === false) {
        this.engine.log(`ℹ️ ${noun} delivered, not counted: ${result.message}`); // a bot's, say
      } else if (result.success) {
        this.engine.log(`✅ ${noun} tracked successfully: ${result[this.kind.idField]}`);
      } else {
        this.engine.warn(`❌ ${noun} refused (HTTP ${result.status}), not sent again:`, result.errors || result, record);
      }
    }

    forget(items) {
      const sent = new Set(items.map((item) => this.idOf(item)));
      this.queue = this.queue.filter((item) => !sent.has(this.idOf(item)));
      this.save();
    }

    /** Try again when the server said (Retry-After, a little spread so that tabs do not all
     * come back at once), or after a backoff that doubles with each failure in a row. */
    retry(retryAfterSeconds) {
      this.failures += 1;
      const { retryBaseMs, retryMaxMs } = this.engine.config;
      const backoff = Math.min(retryBaseMs * 2 ** (this.failures - 1), retryMaxMs) * (0.5 + Math.random());
      const wait = retryAfterSeconds > 0 ? retryAfterSeconds * 1000 * (1 + Math.random() / 4) : backoff;
      this.retryAt = Date.now() + wait;
      this.schedule(0);
    }

    /** Tracking is no longer allowed: forget this page view's queue, in memory and stored. */
    discard() {
      clearTimeout(this.timer);
      this.timer = null;
      this.queue = [];
      this.save();
    }

    /** The page is going away: hand the queue to the browser, and leave it for the next page
     * view to take over (a beacon's answer cannot be read; a resend is counted once). */
    leave() {
      const items = this.batch();
      if (items.length && navigator.sendBeacon) navigator.sendBeacon(this.kind.endpoint, this.body(items));
      this.save(true);
    }
  }

  /** Opt-in (data-anti-flicker="300"): the elements that playbooks about to run will change stay
   * invisible until each is changed, at most the given milliseconds. Never the whole page. */
  class AntiFlicker {
    constructor(engine, boundMs) {
      this.engine = engine;
      this.cacheKey = `wf_targets:${engine.config.siteKey}`;
      this.sheet = null;
      this.hidden = new Set();
      if (!boundMs || !document.adoptedStyleSheets) return; // constructable sheets: no inline style for CSP
      this.sheet = new CSSStyleSheet();
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, this.sheet];
      setTimeout(() => {
        this.show([...this.hidden]);
        this.sheet = null; // the bound is up: nothing is hidden any more
      }, boundMs);
      // Until the site's playbooks arrive, what this page's playbooks targeted last time.
      try {
        this.hide(JSON.parse(peek("localStorage", this.cacheKey) || "[]"));
      } catch {
        this.hide([]);
      }
    }

    /** The site's playbooks are known: hide what those that run now will change, show the rest.
     * The targets of playbooks the visitor is held out of are neither hidden nor remembered. */
    playbooksLoaded(running) {
      if (!this.sheet) return;
      const targets = (workflow) => (workflow.actions || []).map((action) => action.selector).filter(Boolean);
      const shown = this.engine.workflows.filter((workflow) => !this.engine.heldOut(workflow, false));
      try {
        // Stored only when tracking is allowed: nothing is written otherwise.
        if (this.engine.local) this.engine.local.setItem(this.cacheKey, JSON.stringify(shown.flatMap(targets)));
      } catch {
        // quota exceeded: the next page view hides what the playbooks arrive with
      }
      const wanted = new Set(running.flatMap(targets));
      this.show([...this.hidden].filter((selector) => !wanted.has(selector)));
      this.hide([...wanted]);
    }

    hide(selectors) {
      for (const selector of selectors) this.hidden.add(selector);
      this.render();
    }

    show(selectors) {
      for (const selector of selectors) this.hidden.delete(selector);
      this.render();
    }

    render() {
      if (!this.sheet) return;
      const rules = [...this.hidden].map((selector) => {
        try {
          document.querySelector(selector); // an invalid selector would void the whole sheet
          return `${selector} { visibility: hidden !important; }`;
        } catch {
          return "";
        }
      });
      this.sheet.replaceSync(rules.join("\n"));
    }
  }

  class WorkflowEngine {
    constructor(options = {}) {
      const base = options.apiBase || "";
      this.config = {
        debug: false,
        siteKey: "",
        endpoint: `${base}/api/track-execution`,
        conversionEndpoint: `${base}/api/track-conversion`,
        configUrl: options.siteKey ? `${base}/api/sites/${encodeURIComponent(options.siteKey)}/workflows` : "",
        actionWaitMs: 3000,
        timeBudgetMs: 10000,
        batchDelayMs: 300,
        maxQueue: 500,
        retryBaseMs: 1000,
        retryMaxMs: 60000,
        antiFlickerMs: 0,
        requireConsent: false,
        ...options,
      };
      this.version = "1.2.0";
      this.workflows = [];
      this.goals = [];
      // The server's rules, with the playbooks: trigger and action names, the attributes a
      // playbook may set, how many executions a request carries and how late they may be.
      this.rules = null;
      this.device = detectDevice();
      this.userId = options.userId || "";
      // Read, never written, until tracking is allowed (startTracking).
      this.sessionId = peek("sessionStorage", "wf_session") || randomId();
      this.returning = Boolean(peek("localStorage", "wf_visitor"));
      this.running = new Set();
      const siteKey = this.config.siteKey;
      this.tracker = new Tracker(this, {
        noun: "execution",
        endpoint: this.config.endpoint,
        prefix: `wf_queue:${siteKey}`, // the key of earlier versions: their queues are still taken over
        batchKey: "executions",
        idField: "executionId",
        timeField: "startedAt",
      });
      this.conversions = new Tracker(this, {
        noun: "conversion",
        endpoint: this.config.conversionEndpoint,
        prefix: `wf_conversions:${siteKey}`,
        batchKey: "conversions",
        idField: "conversionId",
        timeField: "occurredAt",
      });
      // Privacy: tracking is on only without Do Not Track / Global Privacy Control, and once
      // consent is given when the tag requires it. Until then: no visitor id, nothing stored.
      this.local = null; // localStorage, once tracking is allowed
      this.tracking = false;
      this.visitorId = "";
      this.groups = {}; // holdout groups, also when localStorage is unavailable
      this.goalDays = {}; // goals reached in this page view: {goalId: UTC day}
      this.held = []; // what to send once consent is given
      this.signal = privacySignal();
      this.consentState = this.config.requireConsent ? "pending" : "given";
      if (this.signal) this.log(`🔒 Tracking off: ${this.signal}`);
      else if (this.consentState === "pending") this.log("🔒 Tracking off: waiting for consent");
      else this.startTracking();
      this.antiFlicker = new AntiFlicker(this, this.config.antiFlickerMs);
      this.newPageView();
    }

    /** Tracking is allowed: the visitor id, session and returning visitor are stored. */
    startTracking() {
      this.tracking = true;
      this.local = storage("localStorage");
      const stored = peek("localStorage", "wf_vid");
      this.visitorId = /^[0-9a-f]{32}$/.test(stored || "") ? stored : randomId();
      try {
        const session = storage("sessionStorage");
        if (session) session.setItem("wf_session", this.sessionId);
        if (this.local) {
          this.local.setItem("wf_vid", this.visitorId);
          this.local.setItem("wf_visitor", String(Date.now()));
        }
      } catch {
        // quota exceeded: the visitor id lives as long as this page view
      }
    }

    /** Consent withdrawn: nothing more is sent or stored, what is queued included. */
    stopTracking() {
      for (const tracker of [this.tracker, this.conversions]) tracker.discard();
      this.tracking = false;
      this.local = null;
      this.visitorId = ""; // no visitor, no holdout
    }

    log(...args) {
      if (this.config.debug) console.log(...args);
    }

    warn(...args) {
      if (this.config.debug) console.warn(...args);
    }

    setUserId(userId) {
      this.userId = String(userId || "");
    }

    flush() {
      const flushed = [this.tracker, this.conversions].map((tracker) => tracker.flush());
      return Promise.all(flushed).catch((error) => this.warn("⚠️ Tracking flush failed:", error));
    }

    /** The page's answer to its consent banner (with data-require-consent). true: tracking starts
     * with what this page view held; false: what was held is discarded and tracking stays off.
     * Do Not Track and Global Privacy Control always win. Never throws. */
    consent(granted) {
      try {
        if (this.signal) {
          this.held = [];
          this.log(`🔒 Tracking off: ${this.signal}`);
        } else if (!granted) {
          this.held = [];
          this.consentState = "refused";
          if (this.tracking) this.stopTracking();
          this.log("🔒 Tracking off: consent refused");
        } else if (!this.tracking) {
          this.consentState = "given";
          this.startTracking();
          this.log("🔓 Tracking on: consent given");
          const held = this.held;
          this.held = [];
          for (const send of held) send();
          if (this.rules) this.resume(); // else start() takes over the queues once loaded
        }
      } catch (error) {
        this.warn("⚠️ Consent failed:", error);
      }
    }

    /** The page reports a goal reached: every goal of kind "call" for `event` counts (once a
     * day). Returns nothing, never throws. */
    goal(event) {
      try {
        const name = String(event);
        this.load()
          .then(() => this.goals.filter((goal) => goal.kind === "call" && goal.event === name).forEach((goal) => this.reachGoal(goal)))
          .catch((error) => this.warn("⚠️ Goal not counted:", error.message || error));
      } catch (error) {
        this.warn("⚠️ Goal not counted:", error);
      }
    }

    /** Send now if tracking is on; hold until consent while it is pending; never when it is off. */
    whenTracking(send) {
      if (this.tracking) send();
      else if (!this.signal && this.consentState === "pending") {
        this.held.push(send);
        if (this.held.length > this.config.maxQueue) this.held.shift(); // bounded like a queue
      }
    }

    identified(record) {
      return { ...record, visitorId: this.visitorId };
    }

    /** Take over what earlier page views could not deliver, and send what is queued. */
    resume() {
      for (const tracker of [this.tracker, this.conversions]) {
        tracker.adopt();
        tracker.schedule(0);
      }
    }

    readJson(key) {
      try {
        const value = JSON.parse((this.local && this.local.getItem(key)) || "{}");
        return value && typeof value === "object" && !Array.isArray(value) ? value : {};
      } catch {
        return {};
      }
    }

    writeJson(key, value) {
      try {
        if (this.local) this.local.setItem(key, JSON.stringify(value));
      } catch {
        // quota exceeded: kept in memory for this page view
      }
    }

    /** Whether the visitor is in `workflow`'s holdout group: decided once from the visitor id
     * and kept for good (`remember`), so that a visitor never changes group. No visitor id (tracking
     * off), no holdout. */
    heldOut(workflow, remember = true) {
      const percent = Number(workflow.holdoutPercent) || 0;
      if (!this.visitorId || percent <= 0) return false;
      const groups = { ...this.groups, ...this.readJson("wf_groups") };
      let group = groups[workflow.id];
      if (group !== "held_out" && group !== "exposed") {
        group = fnv1a(`${this.visitorId}:${workflow.id}`) % 100 < percent ? "held_out" : "exposed";
        if (!remember) return group === "held_out";
        groups[workflow.id] = group;
        this.groups = groups;
        this.writeJson("wf_groups", groups);
      }
      return group === "held_out";
    }

    /** A held-out visitor met `workflow`'s triggers: nothing changes on the page, and the run
     * they would have had is recorded as their exposure to the holdout. */
    holdOut(workflow, triggerName) {
      this.log(`🧪 Held out of ${workflow.name}`);
      const record = { ...this.newRecord(workflow, triggerName), heldOut: true };
      this.whenTracking(() => this.tracker.enqueue(this.identified(record)));
    }

    /** A goal is reached: one conversion per visitor, goal and UTC day. */
    reachGoal(goal) {
      if (!goal || typeof goal.id !== "string") return;
      const record = {
        goalId: goal.id,
        conversionId: randomId(),
        occurredAt: new Date().toISOString(),
        pageUrl: location.href.slice(0, 2048),
      };
      const day = utcDay(record.occurredAt);
      if (this.goalDays[goal.id] === day) return;
      if (this.tracking && this.readJson("wf_goal_days")[goal.id] === day) return;
      this.goalDays[goal.id] = day;
      this.log(`🎯 Goal reached: ${goal.name}`);
      this.whenTracking(() => this.queueConversion(record));
    }

    /** Queue a conversion unless another page view or tab counted its goal that day (also
     * when it was held for consent). Only that day's entries are kept. */
    queueConversion(record) {
      const day = utcDay(record.occurredAt);
      const days = this.readJson("wf_goal_days");
      if (days[record.goalId] === day) return;
      const today = Object.fromEntries(Object.entries(days).filter(([, counted]) => counted === day));
      this.writeJson("wf_goal_days", { ...today, [record.goalId]: day });
      this.conversions.enqueue(this.identified(record));
    }

    /** Page goals: once per page view, on the first load and each navigation to a new page. */
    reachPageGoals() {
      for (const goal of this.goals) {
        if (goal.kind === "page" && textMatches(location.pathname, goal.match, goal.path)) this.reachGoal(goal);
      }
    }

    /** Click goals: a click on an element matching the goal's selector, or inside one. */
    reachClickGoals(event) {
      const target = event.target;
      if (!(target instanceof Element)) return;
      for (const goal of this.goals) {
        if (goal.kind !== "click" || !goal.selector) continue;
        let inside = false;
        try {
          inside = Boolean(target.closest(goal.selector));
        } catch {
          this.warn(`❌ Invalid goal selector: ${goal.selector}`);
        }
        if (inside) this.reachGoal(goal);
      }
    }

    /** The site's playbooks and the server's rules, loaded once. */
    load() {
      this.loading =
        this.loading ||
        fetch(this.config.configUrl, { credentials: "omit" }).then(async (response) => {
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          const { workflows, goals, ...rules } = await response.json();
          this.workflows = workflows || [];
          this.goals = Array.isArray(goals) ? goals : [];
          this.rules = rules;
          this.log(`📋 Loaded ${this.workflows.length} playbook(s)`);
        });
      return this.loading;
    }

    /** Load the site's playbooks and watch the page for their triggers. */
    async start() {
      this.listen();
      try {
        await this.load();
      } catch (error) {
        this.warn("❌ Could not load playbooks:", error.message);
        this.antiFlicker.playbooksLoaded([]);
        return;
      }
      if (this.tracking) this.resume(); // what earlier page views could not deliver
      this.measureScroll();
      const running = this.workflows.filter((workflow) => this.matchedTrigger(workflow) && !this.heldOut(workflow));
      this.antiFlicker.playbooksLoaded(running);
      this.evaluate();
      this.reachPageGoals();
    }

    listen() {
      const guarded = (fn) => (...args) => {
        try {
          fn(...args);
        } catch (error) {
          this.warn("⚠️ Workflow system error:", error);
        }
      };
      let ticking = false;
      const onScroll = guarded(() => {
        this.measureScroll();
        this.evaluate();
      });
      const onFrame = () => {
        if (ticking) return;
        ticking = true;
        requestAnimationFrame(() => {
          ticking = false;
          onScroll();
        });
      };
      window.addEventListener("scroll", onFrame, { passive: true });
      window.addEventListener("resize", onFrame, { passive: true });
      // A page view is a new path or query; a change of the #fragment alone is not.
      const onNavigate = guarded(() => {
        if (this.pageKey() !== this.page) {
          this.newPageView();
          this.measureScroll();
          this.evaluate();
          this.reachPageGoals();
        }
      });
      for (const method of ["pushState", "replaceState"]) {
        const original = history[method];
        history[method] = function (...args) {
          const result = original.apply(this, args);
          onNavigate();
          return result;
        };
      }
      window.addEventListener("popstate", onNavigate);
      // Capture phase: a page that stops the click's propagation still reaches the goal.
      document.addEventListener("click", guarded((event) => this.reachClickGoals(event)), true);
      document.addEventListener(
        "visibilitychange",
        guarded(() => {
          if (document.visibilityState === "hidden") for (const tracker of [this.tracker, this.conversions]) tracker.leave();
        })
      );
      window.addEventListener("pagehide", guarded(() => this.leave()));
      document.addEventListener(
        "securitypolicyviolation",
        guarded((event) => {
          const api = new URL(this.config.endpoint, location.href).origin;
          if (String(event.blockedURI).startsWith(api)) {
            this.warn(`❌ The page's Content-Security-Policy (${event.effectiveDirective}) refused ${event.blockedURI}: allow ${api} there`);
          }
        })
      );
    }

    pageKey() {
      return location.pathname + location.search;
    }

    newPageView() {
      this.page = this.pageKey();
      this.pageStart = clock();
      this.scrollDepth = 0;
      this.fired = new Set();
      this.waking = new Set();
      for (const timer of this.timers || []) clearTimeout(timer);
      this.timers = [];
    }

    /** How far down the page the visitor has seen, from the first paint on: a page that fits
     * the screen is seen whole. */
    measureScroll() {
      const root = document.documentElement;
      const depth = ((window.scrollY + window.innerHeight) / Math.max(root.scrollHeight, 1)) * 100;
      this.scrollDepth = Math.max(this.scrollDepth, Math.min(100, depth));
    }

    /** The visitor is leaving: record the runs still under way as they stand, then hand
     * the queue to the browser. */
    leave() {
      for (const run of this.running) run.finish("timeout", "The visitor left the page before this action finished");
      this.tracker.leave();
      this.conversions.leave();
    }

    /** Run every playbook whose triggers now match and that has not run in this page view. */
    evaluate() {
      for (const workflow of this.workflows) {
        if (this.fired.has(workflow.id)) continue;
        const triggerName = this.matchedTrigger(workflow);
        if (triggerName) {
          this.fired.add(workflow.id);
          if (this.heldOut(workflow)) this.holdOut(workflow, triggerName);
          else this.execute(workflow, triggerName).catch((error) => this.warn("⚠️ Playbook failed:", error));
        } else {
          this.wakeForTimeTriggers(workflow);
        }
      }
    }

    matchedTrigger(workflow) {
      const triggers = workflow.triggers || [];
      const met = triggers.filter((trigger) => this.triggerMet(trigger));
      const matched = workflow.triggerMatch === "any" ? met.length > 0 : met.length === triggers.length;
      if (!matched) return null;
      if (!triggers.length) return "Page View";
      const labels = met.map((trigger) => this.rules.triggerNames[trigger.type] || trigger.type);
      return workflow.triggerMatch === "any" ? labels[0] : [...new Set(labels)].join(" + ");
    }

    triggerMet(trigger) {
      switch (trigger.type) {
        case "device":
          return (trigger.devices || []).includes(this.device);
        case "utm": {
          const query = new URLSearchParams(location.search);
          return Object.entries(trigger.params || {}).every(
            ([name, value]) => (query.get(name) || "").toLowerCase() === String(value).toLowerCase()
          );
        }
        case "scroll_depth":
          return this.scrollDepth >= trigger.percent;
        case "url_path":
          return textMatches(location.pathname, trigger.match, trigger.value);
        case "referrer":
          return textMatches(document.referrer, trigger.match, trigger.value);
        case "time_on_page":
          return clock() - this.pageStart >= trigger.seconds * 1000;
        case "visitor":
          return (this.returning ? "returning" : "new") === trigger.kind;
        default:
          return false;
      }
    }

    wakeForTimeTriggers(workflow) {
      if (this.waking.has(workflow.id)) return;
      this.waking.add(workflow.id);
      for (const trigger of workflow.triggers || []) {
        if (trigger.type !== "time_on_page" || this.triggerMet(trigger)) continue;
        const wait = trigger.seconds * 1000 - (clock() - this.pageStart) + 5;
        this.timers.push(setTimeout(() => this.evaluate(), wait));
      }
    }

    /** Run `workflow`'s actions now, time them, and queue the execution for tracking: once,
     * when the run ends or when the visitor leaves before it does. */
    async execute(workflow, triggerName = "Manual") {
      await this.load();
      const started = clock();
      const deadline = started + this.config.timeBudgetMs;
      const record = this.newRecord(workflow, triggerName);
      this.log(`🎯 Workflow triggered: ${workflow.name} by ${triggerName}`);
      let current = null; // the action under way, and when it started
      const run = {
        finish: (status, unfinished) => {
          if (run.done) return;
          run.done = true;
          this.running.delete(run);
          if (current) {
            const { action, since } = current;
            record.actions.push(this.actionRecord(action, clock() - since, unfinished));
          }
          if (status !== "success") record.status = status;
          record.executionTimeMs = Math.round(clock() - started);
          this.log(`📊 Tracking execution for workflow: ${workflow.name}`);
          try {
            this.whenTracking(() => this.tracker.enqueue(this.identified(record)));
          } catch (problem) {
            this.warn("⚠️ Could not queue the execution:", problem);
          }
        },
      };
      this.running.add(run);
      for (const action of workflow.actions || []) {
        if (run.done) break;
        if (clock() > deadline) {
          record.status = "timeout";
          break;
        }
        current = { action, since: clock() };
        let error = "";
        try {
          await this.runAction(action, deadline);
        } catch (problem) {
          error = String((problem && problem.message) || problem).slice(0, 500);
          record.status = "error";
          this.warn(`❌ Action failed in ${workflow.name}: ${error}`);
        }
        if (run.done) break; // recorded when the visitor left
        record.actions.push(this.actionRecord(action, clock() - current.since, error));
        current = null;
        if (action.selector) this.antiFlicker.show([action.selector]);
      }
      if (clock() > deadline) record.status = "timeout";
      run.finish(record.status);
      return record;
    }

    newRecord(workflow, triggerName) {
      const record = {
        workflowId: workflow.id,
        status: "success",
        executionTimeMs: 0,
        pageUrl: location.href.slice(0, 2048),
        sessionId: this.sessionId,
        deviceType: this.device,
        triggerName,
        executionId: randomId(),
        startedAt: new Date().toISOString(),
        actions: [],
      };
      if (this.userId) record.userId = this.userId;
      return record;
    }

    actionRecord(action, ms, error) {
      const { type, selector = "", ...config } = action;
      const name = this.rules.actionNames[type] || String(type);
      return { name, selector, executionTimeMs: Math.round(ms), config, error };
    }

    async runAction(action, deadline) {
      const apply = APPLY[action.type];
      if (!apply) throw new Error(`Unknown action: ${action.type}`);
      const attribute = String(action.attribute || "").trim().toLowerCase();
      if (action.type === "set_attribute" && !this.rules.settableAttributes.includes(attribute)) {
        throw new Error(`Attribute not allowed: ${action.attribute}`);
      }
      const wait = Math.max(0, Math.min(this.config.actionWaitMs, deadline - clock()));
      for (const element of await this.find(action.selector, wait)) apply(element, action);
    }

    /** The elements matching `selector`, waiting up to `waitMs` for them to appear. */
    find(selector, waitMs) {
      return new Promise((resolve, reject) => {
        const query = () => document.querySelectorAll(selector);
        let found;
        try {
          found = query();
        } catch {
          return reject(new Error(`Invalid selector: ${selector}`));
        }
        if (found.length) return resolve(found);
        const observer = new MutationObserver(() => {
          const late = query();
          if (late.length) finish(() => resolve(late));
        });
        const timer = setTimeout(() => finish(() => reject(new Error(`Element not found: ${selector}`))), waitMs);
        function finish(settle) {
          observer.disconnect();
          clearTimeout(timer);
          settle();
        }
        observer.observe(document.documentElement, { childList: true, subtree: true });
      });
    }
  }

  window.WorkflowEngine = WorkflowEngine;

  const script = document.currentScript;
  if (!script || !script.dataset.siteKey) return;
  const debug = /[?&]wf_debug=1/.test(location.search) || script.dataset.debug === "true";
  try {
    const system = new WorkflowEngine({
      siteKey: script.dataset.siteKey,
      apiBase: script.dataset.apiBase || new URL(script.src).origin,
      userId: script.dataset.userId,
      antiFlickerMs: Number(script.dataset.antiFlicker) || 0,
      requireConsent: "requireConsent" in script.dataset && script.dataset.requireConsent !== "false",
      ...(script.dataset.maxQueue ? { maxQueue: Number(script.dataset.maxQueue) } : {}),
      debug,
    });
    window.workflowSystem = system;
    // A consent banner that answered before this script loaded left its answer here.
    if (typeof window.workflowSystemConsent === "boolean") system.consent(window.workflowSystemConsent);
    system.start().catch((error) => system.warn("⚠️ Workflow system error:", error));
  } catch (error) {
    if (debug) console.warn("⚠️ Workflow system failed to start:", error);
  }
})();
