"use strict";
const { chromium } = require('playwright-core');
const fs = require('fs');
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
// Usage: see .ci/a11y/run. Checks each page with axe-core in both themes (light, and dark
// through prefers-color-scheme) at 360 and 1280 px, flags horizontal overflow at 360 px and
// unexpected statuses, and saves the HTML to A11Y_OUT for the Nu HTML Checker. A page loads
// once: the theme and width change in place. Independent visitors (each in a browser
// context of its own) run side by side.
const base = process.env.PATHWAY_URL || 'http://127.0.0.1:3998';
const out = process.env.A11Y_OUT || 'out';
const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function fail(message) { process.exitCode = 1; console.log(message); }
// Every page is checked in each of these; the first is where visitors browse between checks.
const variants = [['light', 360], ['dark', 360], ['dark', 1280], ['light', 1280]];
let checks = 0;

(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: flags });
  fs.mkdirSync(out, { recursive: true });

  // A visitor: a fresh context (cookies of its own) and one page.
  async function visitor() {
    const context = await browser.newContext({ viewport: { width: 360, height: 800 }, bypassCSP: true });
    const page = await context.newPage();
    // `status`: the HTTP status the page must answer with (error pages).
    page.audit = async (path, name, status = 200) => {
      if (path !== null) {
        const response = await page.goto(base + path);
        if (response.status() !== status) fail(`${name}: ${path} answered ${response.status()}, expected ${status}`);
      }
      fs.writeFileSync(`${out}/${name}.html`, await page.content());
      await page.addScriptTag({ content: axeSource });
      await page.axeVariants(name);
    };
    // axe in every theme and width, then back to the first.
    page.axeVariants = async (name) => {
      for (const [scheme, width] of variants) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.setViewportSize({ width, height: 800 });
        const result = await page.evaluate(async () => await axe.run(document, { resultTypes: ['violations'] }));
        checks++;
        for (const v of result.violations) fail(`${name} (${scheme}, ${width} px): [${v.impact}] ${v.id}: ${v.help} (${v.nodes.length}) e.g. ${v.nodes[0].html.slice(0, 150)}`);
        if (width === 360) {
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
          if (overflow) fail(`${name} (${scheme}): horizontal overflow at 360px`);
        }
      }
      await page.emulateMedia({ colorScheme: variants[0][0] });
      await page.setViewportSize({ width: variants[0][1], height: 800 });
    };
    // The header's menu, opened (at 360 px it folds into "Menu"), on the page already loaded.
    page.auditMenu = async (name) => {
      await page.click('header summary');
      await page.waitForSelector('header nav a[href="/dashboard"]', { state: 'visible' });
      await page.axeVariants(`${name}-menu`);
      await page.click('header summary');
    };
    page.signIn = async (username, password) => {
      await page.goto(base + '/signin');
      await page.fill('#f_username', username); await page.fill('#f_password', password);
      await page.click('button[type=submit]:has-text("Sign in")');
    };
    return page;
  }

  // Signed out, then a new learner who signs up and makes some progress.
  async function newcomer() {
    const page = await visitor();
    for (const [p, n] of [['/', 'home'], ['/about', 'about'], ['/roadmaps/backend', 'roadmap'], ['/roadmaps/backend/how-the-web-works', 'stage'], ['/roadmaps/backend/how-the-web-works/tcp-ip', 'skill'], ['/signup', 'signup'], ['/signin', 'signin'], ['/search?q=http', 'search'], ['/roadmaps/career/junior/pull-requests', 'skill-shared'], ['/docs/api', 'api-docs']]) await page.audit(p, n);
    // Error pages, signed out: 404, and 405 (GET on a POST-only route).
    await page.audit('/nope', 'notfound', 404);
    await page.audit('/signout', 'method-not-allowed', 405);
    await page.goto(base + '/signup');
    await page.fill('#f_username', 'checker' + Date.now()); await page.fill('#f_display_name', 'Checker'); await page.fill('#f_password', 'violet tractor harbour lantern');
    await page.click('button[type=submit]:has-text("Create account")');
    await page.goto(base + '/roadmaps/backend'); await page.click('text=Start this roadmap');
    await page.goto(base + '/roadmaps/backend/how-the-web-works');
    await page.click('#progress_client-server button[value=done]');
    await page.waitForTimeout(300);
    // Sub-steps: tick the first stretch goal of a portfolio project.
    await page.goto(base + '/roadmaps/backend/portfolio-projects/project-todo-api');
    await page.click('#project-todo-api .step-toggle >> nth=0');
    await page.audit('/roadmaps/backend/portfolio-projects/project-todo-api', 'skill-steps');
    await page.audit('/roadmaps/backend/portfolio-projects', 'stage-steps');
    await page.audit('/dashboard', 'dashboard');
    await page.auditMenu('dashboard');
    for (const [p, n] of [ ['/account', 'account'], ['/history', 'history'], ['/roadmaps/backend', 'roadmap-in'], ['/roadmaps/backend/how-the-web-works', 'stage-in'], ['/roadmaps/backend/how-the-web-works/tcp-ip', 'skill-in'], ['/progress/backend/how-the-web-works/complete', 'complete'], ['/progress/backend/reset', 'reset'], ['/account/import', 'import'], ['/search?q=http', 'search-in'], ['/account/tokens', 'tokens'], ['/docs/api', 'api-docs-in']]) await page.audit(p, n);
    // An email's unsubscribe page (the token .ci/a11y/run stored), before and after.
    await page.audit('/unsubscribe/a11y-unsubscribe-token', 'unsubscribe');
    await page.click('button[type=submit]:has-text("Stop these emails")');
    await page.audit(null, 'unsubscribed');
    // Error pages with the signed-in header: 403 (a learner on the admin area), 404, 405.
    await page.audit('/admin', 'forbidden-in', 403);
    await page.audit('/roadmaps/nope', 'notfound-in', 404);
    await page.audit('/progress/undo', 'method-not-allowed-in', 405);
  }

  // The demo accounts (seeded by .ci/a11y/run) show the mentor pages with real content.
  async function demoAccounts() {
    for (const [who, paths] of [
      ['mentor', ['/mentoring', '/mentoring/reviews', '/mentoring/matrix/backend', '/mentees/ada', '/mentees/ada/backend/how-the-web-works', '/mentees/ada/backend/how-the-web-works/client-server', '/notifications', '/teams', '/teams/backend-cohort', '/teams/backend-cohort/roadmaps/backend']],
      ['ada', ['/mentors', '/roadmaps/backend', '/roadmaps/backend/programming-fundamentals', '/roadmaps/backend/how-the-web-works', '/roadmaps/backend/how-the-web-works/client-server', '/history', '/dashboard']],
    ]) {
      const page = await visitor();
      await page.signIn(who, 'pathway demo password');
      for (const p of paths) await page.audit(p, `${who}${p.replace(/[\/]/g, '_')}`);
      await page.auditMenu(who);
    }
  }

  // The admin area, as the admin `.ci/a11y/run` created, then the reset link it makes.
  async function admin() {
    const page = await visitor();
    await page.signIn('root', 'violet tractor harbour lantern');
    for (const p of ['/admin', '/admin/invites', '/admin/mentorships', '/admin/content', '/admin/content/plan', '/admin/audit', '/admin/email']) await page.audit(p, `admin${p.replace(/[\/]/g, '_')}`);
    await page.auditMenu('admin');
    await page.goto(base + '/admin?q=ada');
    await page.click('button:has-text("Password-reset link")');
    await page.audit(null, 'admin-reset-link');
    const link = await page.evaluate(() => [...document.querySelectorAll('code, input')].map(e => e.value || e.textContent).find(t => t && t.includes('/reset/')));
    if (!link) return fail('no reset link found on the page');
    const anonymous = await visitor();
    await anonymous.audit(link.replace(/^https?:\/\/[^/]+/, ''), 'reset');
  }

  await Promise.all([newcomer(), demoAccounts(), admin()]);

  // Last, the 503 page: .ci/a11y/run passes a command that drops the throwaway database.
  if (process.env.PATHWAY_DROP_DB) {
    require('child_process').execSync(process.env.PATHWAY_DROP_DB, { stdio: 'inherit' });
    await (await visitor()).audit('/healthz', 'unavailable', 503);
  }
  console.log(`axe: ${checks} checks (${variants.length} per page: ${variants.map(([s, w]) => `${s} ${w} px`).join(', ')})`);
  await browser.close();
})().catch(e => { console.error(e); process.exit(1); });
