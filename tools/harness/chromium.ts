// Debian's Chromium for the dashboard's test and benchmark, driven by playwright-core (which
// downloads no browser). The flags keep it off the machine's closed network: without them it
// stalls on refused connections, many at a time, and on look-ups of Google's hosts.
export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
