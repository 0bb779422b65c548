/*! WorkflowExecutor.js: the legacy executor's API, kept for pages that call it directly.
 * It runs a given playbook definition through UnifiedWorkflowSystem.js, with the same timing
 * and tracking, loading that file from beside this one if the page has not loaded it yet.
 *   const executor = new WorkflowExecutor({ siteKey: "sk_...", debug: true });
 *   const record = await executor.execute({ id, name, actions: [...] }); */
(() => {
  "use strict";
  if (window.WorkflowExecutor) return;
  const scriptUrl = document.currentScript ? document.currentScript.src : location.href;
  let loading = null;

  function loadEngine() {
    if (window.WorkflowEngine) return Promise.resolve(window.WorkflowEngine);
    loading =
      loading ||
      new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = new URL("UnifiedWorkflowSystem.js", scriptUrl).href;
        script.onload = () => (window.WorkflowEngine ? resolve(window.WorkflowEngine) : reject(new Error("no engine")));
        script.onerror = () => reject(new Error(`Could not load ${script.src}`));
        document.head.appendChild(script);
      });
    return loading;
  }

  class WorkflowExecutor {
    /** endpoint: the tracking URL; by default the one on the server this file came from
     * (whose site config it also loads). */
    constructor({ siteKey, endpoint, debug = false, userId = "" } = {}) {
      this.options = {
        siteKey,
        apiBase: new URL(endpoint || scriptUrl).origin,
        debug,
        userId,
      };
      if (endpoint) this.options.endpoint = endpoint;
      this.engine = null;
    }

    /** Run the definition's actions now and track the execution. Resolves to the record sent,
     * or null if the engine could not run; it never rejects. */
    async execute(workflow, triggerName = "Manual") {
      try {
        const Engine = await loadEngine();
        this.engine = this.engine || new Engine(this.options);
        return await this.engine.execute(workflow, triggerName);
      } catch (error) {
        if (this.options.debug) console.warn("⚠️ WorkflowExecutor failed:", error);
        return null;
      }
    }

    /** Send what is queued now instead of after the short batching delay. */
    flush() {
      return this.engine ? this.engine.flush() : Promise.resolve();
    }
  }

  window.WorkflowExecutor = WorkflowExecutor;
})();
