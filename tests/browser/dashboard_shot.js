#!/usr/bin/env node
/*
 * One look at Dask's own dashboard, as make demo shows it:
 *
 *   node dashboard_shot.js DASHBOARD_URL OUT.png
 *
 * opens DASHBOARD_URL/workers in Debian's chromium (playwright-core, no
 * browser download), waits until distributed's worker table shows its
 * "Total (N)" row, saves a screenshot to OUT.png and prints N.  Exit 0, or
 * 1 with the reason on stderr (no browser, no table within 30 s).
 */
'use strict';

const fs = require('fs');

const chromium = require('./chromium');

const WAIT_MS = 30000;

async function main() {
	const [url, out] = process.argv.slice(2);

	if (!url || !out)
		throw new Error('usage: dashboard_shot.js DASHBOARD_URL OUT.png');
	const pw = require('playwright-core');
	const { ctx, profile } = await chromium.launch(pw,
	    { viewport: { width: 1366, height: 700 } });
	try {
		const page = ctx.pages()[0] || await ctx.newPage();

		await page.goto(url + '/workers', { timeout: WAIT_MS });
		/* bokeh draws the table in shadow DOM; the selector pierces it */
		const cell = page.locator('.slick-cell',
		    { hasText: /^Total \(\d+\)$/ }).first();
		await cell.waitFor({ timeout: WAIT_MS });
		const n = Number(/\((\d+)\)/.exec(await cell.textContent())[1]);
		await page.screenshot({ path: out });
		process.stdout.write(n + '\n');
	} finally {
		await ctx.close();
		fs.rmSync(profile, { recursive: true, force: true });
	}
}

main().catch((e) => {
	process.stderr.write('dashboard_shot: ' + e.message + '\n');
	process.exit(1);
});
