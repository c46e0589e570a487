'use strict';
// Rate-limited logging: at most `perSecond` lines per key each second; what was held back is
// counted and reported with the next line that gets through (or at flush()). A flood of bad
// requests cannot flood the log.

class RateLimitedLog {
  constructor(logger, perSecond = 5, clock = () => performance.now()) {
    this.logger = logger;
    this.perSecond = perSecond;
    this.clock = clock;
    this.keys = new Map();
  }

  emit(level, key, obj, msg) {
    const now = this.clock();
    let k = this.keys.get(key);
    if (!k || now - k.since >= 1000) {
      if (k && k.suppressed) this.logger[level]({ key, suppressed: k.suppressed }, `${k.suppressed} similar lines suppressed`);
      k = { since: now, n: 0, suppressed: 0 };
      this.keys.set(key, k);
    }
    if (k.n < this.perSecond) {
      k.n++;
      this.logger[level](obj, msg);
      return true;
    }
    k.suppressed++;
    return false;
  }

  warn(key, obj, msg) { return this.emit('warn', key, obj, msg); }
  error(key, obj, msg) { return this.emit('error', key, obj, msg); }

  flush() {
    for (const [key, k] of this.keys) {
      if (k.suppressed) this.logger.warn({ key, suppressed: k.suppressed }, `${k.suppressed} similar lines suppressed`);
    }
    this.keys.clear();
  }
}

module.exports = { RateLimitedLog };
