"use strict";
// Takes docs/screenshots/ (see scripts/screenshots, which serves the demo data and runs this).
// One browser context per account, theme and width; each shot is the first screenful.
const { chromium } = require('playwright-core');
const base = process.env.PATHWAY_URL;
const out = process.env.SHOTS_OUT;
const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--hide-scrollbars'];
const password = { ada: 'pathway demo password', mentor: 'pathway demo password', root: 'violet tractor harbour lantern' };
// [file name, account, path]
const pages = [
  ['home', 'ada', '/'],
  ['roadmap', 'ada', '/roadmaps/backend'],
  ['stage', 'ada', '/roadmaps/backend/how-the-web-works'],
  ['skill', 'ada', '/roadmaps/backend/how-the-web-works/client-server'],
  ['dashboard', 'ada', '/dashboard'],
  ['mentor-dashboard', 'mentor', '/mentoring'],
  ['admin', 'root', '/admin'],
  ['audit', 'root', '/admin/audit'],
  ['account', 'ada', '/account'],
];
const sizes = [['desktop', { width: 1280, height: 800 }], ['phone', { width: 360, height: 740 }]];

(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: flags });
  for (const scheme of ['light', 'dark']) {
    for (const [size, viewport] of sizes) {
      for (const who of ['ada', 'mentor', 'root']) {
        const context = await browser.newContext({ viewport, colorScheme: scheme, reducedMotion: 'reduce' });
        const page = await context.newPage();
        await page.goto(base + '/signin');
        await page.fill('#f_username', who);
        await page.fill('#f_password', password[who]);
        await Promise.all([page.waitForNavigation(), page.click('main button[type=submit]')]);
        for (const [name, account, path] of pages.filter(([, a]) => a === who)) {
          const response = await page.goto(base + path);
          if (response.status() !== 200) throw new Error(`${path} answered ${response.status()}`);
          const file = `${out}/${name}-${size}-${scheme}.png`;
          await page.screenshot({ path: file });
          console.log(file.replace(/^.*\/docs\//, 'docs/'));
        }
        await context.close();
      }
    }
  }
  await browser.close();
})().catch(e => { console.error(e); process.exit(1); });
