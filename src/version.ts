// Kept equal to package.json's version (a unit test checks it); inlined so the hot path
// does not read package.json.
export const VERSION = '0.1.0';
