import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium (scripts/ensure-chromium.sh installs it); playwright-core brings no browser. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless Chromium with the flags this machine's closed network needs. Throws (so each test
 * that needs it fails, rather than skips) when chromium is not installed.
 */
export async function launchChromium(needs: string): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: ${needs} needs Debian's chromium. Run "bash scripts/ensure-chromium.sh" (as root) or "sudo apt-get install -y chromium".`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
