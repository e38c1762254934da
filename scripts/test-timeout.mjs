// Preloaded into every test file by scripts/test.mjs: gives each test a default timeout, so a test
// that waits forever fails with its own name instead of hanging the run.
//
// Why not `--test-timeout`: on Node 20 (checked on 20.20) it only bounds a whole FILE under `--test`
// (a test inside the file never gets it), and a file that times out reports no test name.
// Why not wrap `test()`: Node takes a test's reported location from the caller of `test()`, so a
// wrapper would make every failure point at this file. So this sets the default where Node itself
// creates a test (Test#createSubtest, reached through --expose-internals): a test or `it` whose own
// options have no `timeout` and whose ancestors set none gets TEST_TIMEOUT_MS (default 120 s; 0
// turns it off). Subtests inherit their parent's timeout, as in Node. A test that needs longer says
// so with `{ timeout: ms }`. If a future Node moves the internal, the run warns and falls back to
// the per-file timeout alone.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ms = Number(process.env.TEST_TIMEOUT_MS ?? 120_000);

let internals;
try {
  internals = require('internal/test_runner/test');
} catch {
  internals = undefined;
}
const Test = internals?.Test;
const Suite = internals?.Suite;

if (ms > 0) {
  if (typeof Test?.prototype?.createSubtest !== 'function') {
    process.emitWarning('scripts/test-timeout.mjs: no per-test default timeout on this Node (internal test runner API not found); only the per-file timeout applies');
  } else {
    const createSubtest = Test.prototype.createSubtest;
    Test.prototype.createSubtest = function (Factory, name, options, fn, overrides) {
      // the argument forms of test([name][, options][, fn]), as Node normalizes them
      if (typeof name === 'function') {
        fn = name;
        name = undefined;
        options = undefined;
      } else if (name !== null && typeof name === 'object') {
        fn = options;
        options = name;
        name = undefined;
      } else if (typeof options === 'function') {
        fn = options;
        options = undefined;
      }
      if (options === null || typeof options !== 'object') options = {};
      if (Factory !== Suite && options.timeout === undefined && (this.timeout === null || this.timeout === Infinity)) options = { ...options, timeout: ms };
      return createSubtest.call(this, Factory, name, options, fn, overrides);
    };
  }
}
