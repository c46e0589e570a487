// Function-level timing of a real run: wraps the exported functions of CommonJS modules (the
// compiled dist/ files, whose callers look functions up on the module object at call time), so
// every call made through them is timed without changing the code under test.

/**
 * Wraps every exported function (lower-case names: classes are left alone) of each module.
 * Only the outermost wrapped call is timed, so nested wrapped calls are not counted twice.
 * @param {Record<string, object | object[]>} modules  label -> module exports object(s)
 */
export function instrument(modules) {
  const totals = new Map();
  const restorers = [];
  let depth = 0;
  for (const [label, mods] of Object.entries(modules)) for (const mod of [].concat(mods)) {
    for (const key of Object.keys(mod)) {
      const fn = mod[key];
      const desc = Object.getOwnPropertyDescriptor(mod, key);
      if (typeof fn !== 'function' || !/^[a-z]/.test(key) || !desc?.writable) continue;
      const name = `${label}.${key}`;
      mod[key] = function timed(...args) {
        if (depth > 0) return fn.apply(this, args);
        depth++;
        const t0 = performance.now();
        try {
          return fn.apply(this, args);
        } finally {
          depth--;
          const t = totals.get(name) ?? { ms: 0, calls: 0 };
          t.ms += performance.now() - t0;
          t.calls++;
          totals.set(name, t);
        }
      };
      restorers.push(() => {
        mod[key] = fn;
      });
    }
  }
  return {
    /** Totals since the last reset: name -> { ms, calls }. */
    take() {
      const out = Object.fromEntries([...totals].map(([k, v]) => [k, { ...v }]));
      totals.clear();
      return out;
    },
    restore() {
      for (const r of restorers) r();
    },
  };
}
