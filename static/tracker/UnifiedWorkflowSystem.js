/*! UnifiedWorkflowSystem.js: runs a site's playbooks and tracks every execution.
 * Embed: <script async src=".../UnifiedWorkflowSystem.js" data-site-key="sk_..."></script>
 * Nothing here may break the host page: every failure is caught and only logged in debug mode. */
(() => {
  "use strict";
  if (window.WorkflowEngine) return; // loaded twice

  const MAX_BODY_BYTES = 60000; // keepalive requests and beacons carry at most 64 KiB

  const clock = () => performance.now();
  const randomId = () =>
    Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");

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

  /** The queue of executions to deliver: persisted, batched, retried with backoff. */
  class Tracker {
    constructor(engine) {
      this.engine = engine;
      this.store = storage("localStorage");
      this.storeKey = `wf_queue:${engine.config.siteKey}`;
      this.memory = [];
      this.timer = null;
      this.dueAt = 0;
      this.retryAt = 0;
      this.sending = false;
    }

    load() {
      if (!this.store) return this.memory;
      try {
        const queue = JSON.parse(this.store.getItem(this.storeKey) || "[]");
        return Array.isArray(queue) ? queue : [];
      } catch {
        return [];
      }
    }

    save(queue) {
      this.memory = queue;
      if (!this.store) return;
      try {
        if (queue.length) this.store.setItem(this.storeKey, JSON.stringify(queue));
        else this.store.removeItem(this.storeKey);
      } catch {
        this.store = null; // quota exceeded: keep going in memory
      }
    }

    enqueue(record) {
      const { maxQueue, batchDelayMs } = this.engine.config;
      const queue = this.load();
      queue.push({ record, attempts: 0, queuedAt: Date.now() });
      this.save(queue.slice(-maxQueue));
      this.schedule(batchDelayMs);
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

    /** Queued items still worth sending, at most one request's worth (none before the
     * server's rules are known). */
    batch() {
      const { rules } = this.engine;
      if (!rules) return [];
      const { maxAttempts } = this.engine.config;
      const fresh = this.load().filter(
        (item) => item.attempts < maxAttempts && Date.now() - item.queuedAt < rules.maxDelaySeconds * 1000
      );
      this.save(fresh);
      const items = [];
      let bytes = 0;
      for (const item of fresh.slice(0, rules.maxBatch)) {
        bytes += JSON.stringify(item.record).length;
        if (items.length && bytes > MAX_BODY_BYTES) break;
        items.push(item);
      }
      return items;
    }

    body(items) {
      const siteKey = this.engine.config.siteKey;
      const records = items.map((item) => item.record);
      return JSON.stringify(records.length === 1 ? { ...records[0], siteKey } : { siteKey, executions: records });
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
      if (this.load().length) this.schedule(0);
    }

    async send(items) {
      let response;
      try {
        response = await fetch(this.engine.config.endpoint, {
          method: "POST",
          // text/plain keeps this a simple request: no CORS preflight.
          headers: { "Content-Type": "text/plain;charset=UTF-8" },
          body: this.body(items),
          keepalive: true,
          credentials: "omit",
        });
      } catch (error) {
        this.engine.warn("❌ Tracking request failed (network):", error.message);
        return this.retry(items, 0);
      }
      if (response.status === 429 || response.status >= 500) {
        this.engine.warn(`❌ Tracking request failed: HTTP ${response.status}, will retry`);
        return this.retry(items, Number(response.headers.get("Retry-After")) || 0);
      }
      const answer = await response.json().catch(() => ({}));
      const results = items.length === 1 ? [{ ...answer, status: response.status }] : answer.results || [];
      items.forEach((item, index) => this.report(item.record, results[index] || answer));
      this.forget(items);
      this.retryAt = 0;
    }

    report(record, result) {
      if (result.success) {
        this.engine.log(`✅ Execution tracked successfully: ${result.executionId}`);
      } else {
        this.engine.warn(`❌ Execution not tracked (HTTP ${result.status}):`, result.errors || result, record);
      }
    }

    forget(items) {
      const sent = new Set(items.map((item) => item.record.executionId));
      this.save(this.load().filter((item) => !sent.has(item.record.executionId)));
    }

    retry(items, retryAfterSeconds) {
      const ids = new Set(items.map((item) => item.record.executionId));
      const queue = this.load();
      let attempts = 1;
      for (const item of queue) {
        if (ids.has(item.record.executionId)) attempts = Math.max(attempts, ++item.attempts);
      }
      this.save(queue);
      const { retryBaseMs, retryMaxMs } = this.engine.config;
      const backoff = Math.min(retryBaseMs * 2 ** (attempts - 1), retryMaxMs) * (0.5 + Math.random());
      this.retryAt = Date.now() + Math.max(backoff, retryAfterSeconds * 1000);
      this.schedule(0);
    }

    /** The page is going away: hand what is left to the browser. Retries stay queued; the
     * server counts an executionId once, so a later resend is harmless. */
    beacon() {
      const items = this.batch();
      if (items.length && navigator.sendBeacon) {
        navigator.sendBeacon(this.engine.config.endpoint, this.body(items));
      }
    }
  }

  class WorkflowEngine {
    constructor(options = {}) {
      const base = options.apiBase || "";
      this.config = {
        debug: false,
        siteKey: "",
        endpoint: `${base}/api/track-execution`,
        configUrl: options.siteKey ? `${base}/api/sites/${encodeURIComponent(options.siteKey)}/workflows` : "",
        actionWaitMs: 3000,
        timeBudgetMs: 10000,
        batchDelayMs: 300,
        maxQueue: 200,
        maxAttempts: 8,
        retryBaseMs: 1000,
        retryMaxMs: 60000,
        ...options,
      };
      this.version = "1.0.0";
      this.workflows = [];
      // The server's rules, with the playbooks: trigger and action names, the attributes a
      // playbook may set, how many executions a request carries and how late they may be.
      this.rules = null;
      this.device = detectDevice();
      this.userId = options.userId || "";
      const session = storage("sessionStorage");
      this.sessionId = (session && session.getItem("wf_session")) || randomId();
      if (session) session.setItem("wf_session", this.sessionId);
      const local = storage("localStorage");
      this.returning = Boolean(local && local.getItem("wf_visitor"));
      if (local) local.setItem("wf_visitor", String(Date.now()));
      this.tracker = new Tracker(this);
      this.newPageView();
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
      return this.tracker.flush().catch((error) => this.warn("⚠️ Tracking flush failed:", error));
    }

    /** The site's playbooks and the server's rules, loaded once. */
    load() {
      this.loading =
        this.loading ||
        fetch(this.config.configUrl, { credentials: "omit" }).then(async (response) => {
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          const { workflows, ...rules } = await response.json();
          this.workflows = workflows || [];
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
        return;
      }
      this.tracker.schedule(0); // what earlier page views could not deliver
      this.evaluate();
    }

    listen() {
      const guarded = (fn) => () => {
        try {
          fn();
        } catch (error) {
          this.warn("⚠️ Workflow system error:", error);
        }
      };
      let ticking = false;
      const onScroll = guarded(() => {
        const root = document.documentElement;
        const depth = ((window.scrollY + window.innerHeight) / Math.max(root.scrollHeight, 1)) * 100;
        this.scrollDepth = Math.max(this.scrollDepth, Math.min(100, depth));
        this.evaluate();
      });
      window.addEventListener(
        "scroll",
        () => {
          if (ticking) return;
          ticking = true;
          requestAnimationFrame(() => {
            ticking = false;
            onScroll();
          });
        },
        { passive: true }
      );
      const onNavigate = guarded(() => {
        if (location.href !== this.href) {
          this.newPageView();
          this.evaluate();
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
      const leave = guarded(() => this.tracker.beacon());
      document.addEventListener("visibilitychange", () => document.visibilityState === "hidden" && leave());
      window.addEventListener("pagehide", leave);
    }

    newPageView() {
      this.href = location.href;
      this.pageStart = clock();
      this.scrollDepth = 0;
      this.fired = new Set();
      this.waking = new Set();
      for (const timer of this.timers || []) clearTimeout(timer);
      this.timers = [];
    }

    /** Run every playbook whose triggers now match and that has not run in this page view. */
    evaluate() {
      for (const workflow of this.workflows) {
        if (this.fired.has(workflow.id)) continue;
        const triggerName = this.matchedTrigger(workflow);
        if (triggerName) {
          this.fired.add(workflow.id);
          this.execute(workflow, triggerName).catch((error) => this.warn("⚠️ Playbook failed:", error));
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

    /** Run `workflow`'s actions now, time them, and queue the execution for tracking. */
    async execute(workflow, triggerName = "Manual") {
      await this.load();
      const started = clock();
      const startedAt = new Date().toISOString();
      const deadline = started + this.config.timeBudgetMs;
      this.log(`🎯 Workflow triggered: ${workflow.name} by ${triggerName}`);
      let status = "success";
      const actions = [];
      for (const action of workflow.actions || []) {
        if (clock() > deadline) {
          status = "timeout";
          break;
        }
        const { type, selector = "", ...config } = action;
        const actionStart = clock();
        let error = "";
        try {
          await this.runAction(action, deadline);
        } catch (problem) {
          error = String((problem && problem.message) || problem).slice(0, 500);
          status = "error";
          this.warn(`❌ Action failed in ${workflow.name}: ${error}`);
        }
        const timing = Math.round(clock() - actionStart);
        const name = this.rules.actionNames[type] || String(type);
        actions.push({ name, selector, executionTimeMs: timing, config, error });
      }
      if (clock() > deadline) status = "timeout";
      const record = {
        workflowId: workflow.id,
        status,
        executionTimeMs: Math.round(clock() - started),
        pageUrl: location.href.slice(0, 2048),
        sessionId: this.sessionId,
        deviceType: this.device,
        triggerName,
        executionId: randomId(),
        startedAt,
        actions,
      };
      if (this.userId) record.userId = this.userId;
      this.log(`📊 Tracking execution for workflow: ${workflow.name}`);
      try {
        this.tracker.enqueue(record);
      } catch (problem) {
        this.warn("⚠️ Could not queue the execution:", problem);
      }
      return record;
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
      debug,
    });
    window.workflowSystem = system;
    system.start().catch((error) => system.warn("⚠️ Workflow system error:", error));
  } catch (error) {
    if (debug) console.warn("⚠️ Workflow system failed to start:", error);
  }
})();
