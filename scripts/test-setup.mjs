// Preloaded by scripts/test.mjs into every test process.
// fast-check generates arrays of at most ~10 elements unless told otherwise, even with a large
// maxLength; properties over "arbitrary bytes" must really reach the lengths they name.
import fc from 'fast-check';

fc.configureGlobal({ ...fc.readConfigureGlobal(), defaultSizeToMaxWhenMaxSpecified: true });
