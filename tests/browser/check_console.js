#!/usr/bin/env node
/*
 * Drives Debian's chromium (through playwright-core, no browser download)
 * against a live edask console, as an operator would use it.  Run by
 * tests/integration/test_console_browser.py:
 *
 *   node check_console.js --url URL --instance NAME --out DIR
 *       [--grow] [--actions]       (token in $EDASK_TOKEN)
 *
 * It prints one JSON line per step on stdout.  With --grow it prints
 * {"step": "ready", "running": N} once the overview shows the instance,
 * then waits (without reloading) for the page to show more than N running
 * workers: the test starts a burst of work when it reads that line.
 * Where the scheduler has bokeh (the instance's engine.dashboard), --grow
 * also opens Dask's own dashboard in a second tab: before "ready" its
 * /workers page must show the one worker ({"step": "dask-workers-1"}),
 * after "grown" as many workers as the API ({"step": "dask-workers"}),
 * and its /status page must draw its plots ({"step": "dask-status"}); the
 * instance page must link to those pages, or else carry the note that
 * there is no bokeh.
 * Screenshots: DIR/console.png (overview), DIR/console-instance.png
 * (instance page), with a dashboard DIR/dask-workers-1.png (its /workers
 * with one worker), DIR/dask-workers.png (/workers once grown) and
 * DIR/dask-status.png (/status once grown), DIR/console-failure.png (and
 * DIR/dask-failure.png, the dashboard's tab) when a check fails.  Exit 0:
 * every check passed; 1: one failed ({"error": ...} says which); 2: usage
 * or no browser.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const chromium = require('./chromium');

const CHROMIUM = chromium.CHROMIUM;
const STEP_MS = 20000;

function parseArgs(argv) {
	const a = { grow: false, actions: false };

	for (let i = 0; i < argv.length; i++) {
		const k = argv[i];

		if (k === '--grow' || k === '--actions')
			a[k.slice(2)] = true;
		else if (['--url', '--instance', '--out'].includes(k) &&
		    i + 1 < argv.length)
			a[k.slice(2)] = argv[++i];
		else
			usage('unknown argument ' + k);
	}
	if (!a.url || !a.instance || !a.out)
		usage('--url, --instance and --out are needed');
	return a;
}

function usage(msg) {
	process.stderr.write('check_console: ' + msg + '\n');
	process.exit(2);
}

function say(obj) {
	process.stdout.write(JSON.stringify(obj) + '\n');
}

function check(cond, msg) {
	if (!cond)
		throw new Error(msg);
}

async function apiGet(base, p) {
	const r = await fetch(base + p);

	check(r.ok, 'GET ' + p + ': HTTP ' + r.status);
	return r.json();
}

/* Polls fn() (in node) until it returns a truthy value. */
async function until(fn, what, ms) {
	const end = Date.now() + (ms || STEP_MS);
	let last;

	while (Date.now() < end) {
		last = await fn();
		if (last)
			return last;
		await new Promise((r) => setTimeout(r, 200));
	}
	throw new Error('timed out waiting for ' + what + ' (last: ' +
	    JSON.stringify(last) + ')');
}

async function text(page, sel) {
	const el = await page.$(sel);

	return el ? (await el.textContent()).trim() : null;
}

/* The instance's scheduler serves Dask's own (bokeh) dashboard. */
function hasDashboard(inst) {
	return !!(inst.engine && inst.engine.dashboard);
}

/*
 * How many pixels of the canvas cv are neither blank nor grid grey (0 when
 * it has no size or no 2d context).  It runs in the page, so it uses
 * nothing from this file.
 */
function inked(cv) {
	const c = cv.width && cv.height && cv.getContext('2d');
	let n = 0;

	if (!c)
		return 0;
	const d = c.getImageData(0, 0, cv.width, cv.height).data;
	for (let i = 0; i < d.length; i += 4) {
		const [r, g, b, a] = [d[i], d[i + 1], d[i + 2], d[i + 3]];

		if (a > 200 && Math.max(r, g, b) - Math.min(r, g, b) > 60)
			n++;
	}
	return n;
}

/* The inked pixels of the canvas sel. */
async function inkedPixels(page, sel) {
	return page.$eval(sel, inked);
}

/* The inked pixels of each canvas on the page, shadow roots too. */
async function inkedCanvases(page) {
	const counts = [];

	for (const cv of await page.$$('canvas')) {
		counts.push(await cv.evaluate(inked));
		await cv.dispose();
	}
	return counts;
}

/*
 * The worker count on the dashboard's /workers page: distributed's
 * WorkerTable heads its rows with "Total (N)" (bokeh draws it in shadow
 * DOM, which playwright's selectors pierce).
 */
async function daskWorkerCount(dash) {
	const cell = dash.locator('.slick-cell', { hasText: /^Total \(\d+\)$/ })
	    .first();

	await cell.waitFor({ timeout: STEP_MS });
	return Number(/\((\d+)\)/.exec(await cell.textContent())[1]);
}

/*
 * Loads the dashboard's /workers until it shows as many workers as the API
 * reports running and want(n) holds, then saves its screenshot.
 */
async function daskWorkers(dash, a, inst, want, what, step, file) {
	const d = inst.outputs.dask_scheduler_dashboard_address;
	let shown = null, api = null, n;

	try {
		n = await until(async () => {
			await dash.goto(d + '/workers', { waitUntil: 'load' });
			shown = await daskWorkerCount(dash);
			api = (await apiGet(a.url, '/v1/instances/' + a.instance))
			    .workers_running;
			return shown === api && want(shown) ? shown : null;
		}, 'Dask\'s /workers page to show ' + what);
	} catch (e) {
		throw new Error(e.message + ': it showed Total (' + shown +
		    '), the API ' + api + ' running');
	}
	check(await dash.title() === 'Dask: Workers',
	    'the /workers page is titled ' + await dash.title());
	await dash.screenshot({ path: path.join(a.out, file), fullPage: true });
	say({ step, workers: n });
	return n;
}

/* Dask's /status page draws its plots: the bytes stored, the task stream. */
async function daskStatus(dash, a, inst) {
	const d = inst.outputs.dask_scheduler_dashboard_address;

	await dash.goto(d + '/status', { waitUntil: 'load' });
	await until(async () => await dash.title() === 'Dask: Status',
	    'the /status page');
	/* the bytes stored and, with the burst going on, the task stream and
	 * the tasks processing */
	const ink = await until(async () => {
		const px = await inkedCanvases(dash);

		return px.filter((n) => n > 200).length >= 3 ? px : null;
	}, 'the plots of Dask\'s /status page to be drawn');
	await dash.screenshot({ path: path.join(a.out, 'dask-status.png'),
	    fullPage: true });
	say({ step: 'dask-status', canvases: ink.length,
	    drawn: ink.filter((n) => n > 200).length });
}

async function overview(page, a) {
	const row = '[data-instance="' + a.instance + '"]';

	await page.goto(a.url + '/', { waitUntil: 'load' });
	await page.evaluate(() => { window.__sameDocument = true; });
	const inst = await until(async () => {
		const i = await apiGet(a.url, '/v1/instances/' + a.instance);

		return i.state === 'started' && i.workers_running >= 1 ? i : null;
	}, 'the instance started with a running worker');
	await page.waitForSelector(row + ' [data-test=state]:text("started")',
	    { timeout: STEP_MS });
	const o = inst.outputs;
	await until(async () => await text(page, row + ' [data-test=sched] code') ===
	    o.dask_scheduler_address, 'the scheduler address on the overview');
	check(await text(page, row + ' [data-test=dash] code') ===
	    o.dask_scheduler_dashboard_address,
	    'the dashboard address is not on the overview');
	check((await page.$$(row + ' button[data-act=copy]')).length === 2,
	    'expected a copy button for each output');
	await page.click(row + ' [data-test=sched] button[data-act=copy]');
	await until(async () => await page.evaluate(() =>
	    navigator.clipboard.readText()) === o.dask_scheduler_address,
	    'the copy button to put the scheduler address on the clipboard');
	const running = Number(await text(page, row + ' [data-test=running]'));
	check(running === inst.workers_running, 'the overview shows ' + running +
	    ' running workers, the API ' + inst.workers_running);
	const pool = await apiGet(a.url, '/v1/pool');
	const slots = (pool.pools || [pool]).reduce((n, p) => n + p.size, 0);
	await until(async () => (await page.$$('.slot')).length === slots,
	    'one pool tile per slot, of every pool');
	const tiles = await page.$$eval('.slot', (els) => els.map((e) => {
		const link = e.querySelector('.holder a');
		const tag = e.querySelector('.holder .tag');

		return { holder: link ? link.textContent.trim() : 'free',
		    tag: tag ? tag.textContent.trim() : null };
	}));
	const held = tiles.map((t) => t.holder);
	check(held.includes(a.instance), 'no pool tile shows ' + a.instance +
	    ' holding a slot: ' + JSON.stringify(tiles));
	/* each held tile says owned or borrowed, as the API does */
	[].concat(...(pool.pools || [pool]).map((p) => p.slots)).forEach(
	    (sl, i) => check(!sl.instance ||
	    tiles[i].tag === (sl.borrowed ? 'borrowed' : 'owned'),
	    'slot ' + i + ' shows ' + tiles[i].tag + ', the API says ' +
	    (sl.borrowed ? 'borrowed' : 'owned')));
	await until(async () => (await page.$$('#events li')).length > 0,
	    'the decisions on the overview');
	say({ step: 'overview', running, outputs: o, slots: held });
	return { running, inst };
}

async function grow(page, dash, a, before, inst) {
	const row = '[data-instance="' + a.instance + '"]';

	if (dash)
		await daskWorkers(dash, a, inst, (n) => n === before, before +
		    ' worker', 'dask-workers-1', 'dask-workers-1.png');
	say({ step: 'ready', running: before });
	const now = await until(async () => {
		const n = Number(await text(page, row + ' [data-test=running]'));

		return n > before ? n : null;
	}, 'the overview to show more than ' + before + ' running workers ' +
	    '(without a reload)', 45000);
	check(await page.evaluate(() => window.__sameDocument === true),
	    'the page reloaded');
	/* let the tiles and the table settle on the new count */
	await page.waitForTimeout(1200);
	say({ step: 'grown', running: now });
	if (dash) {
		await daskWorkers(dash, a, inst, (n) => n > before, 'more than ' +
		    before + ' workers', 'dask-workers', 'dask-workers.png');
		await daskStatus(dash, a, inst);
	}
	return now;
}

async function instancePage(page, a) {
	await page.click('[data-instance="' + a.instance + '"] a.iname');
	await page.waitForURL('**/instances/' + a.instance, { timeout: STEP_MS });
	await page.waitForSelector('#ihead [data-test=state]', { timeout: STEP_MS });
	check(await page.evaluate(() => window.__sameDocument === true),
	    'following the instance link reloaded the page');
	let inst, addrs;
	await until(async () => {
		const shown = await page.$$eval('#iworkers [data-worker] .mono',
		    (els) => els.map((e) => e.textContent.trim()));

		inst = await apiGet(a.url, '/v1/instances/' + a.instance);
		addrs = inst.workers.filter((w) => w.address).map((w) => w.address);
		return addrs.length > 0 && addrs.every((x) => shown.includes(x));
	}, 'every worker address of the API in the workers table');
	for (const k of ['dask_scheduler_address',
	    'dask_scheduler_dashboard_address', 'console_url',
	    'dask_client_config', 'dask_client_snippet'])
		check(await text(page, '[data-output=' + k + '] code') ===
		    inst.outputs[k], 'output ' + k + ' missing on the instance page');
	if (hasDashboard(inst)) {
		const d = inst.outputs.dask_scheduler_dashboard_address;

		check(await page.$('[data-test=dash-links]'),
		    'the links to Dask\'s dashboard are missing');
		check(!await page.$('[data-test=bokeh-note]'),
		    'the note about no bokeh is there, with a dashboard');
		for (const p of ['status', 'workers', 'tasks']) {
			const href = await page.getAttribute('[data-test=dash-links] ' +
			    'a[data-test=dash-' + p + ']', 'href', { timeout: STEP_MS });

			check(href === d + '/' + p, 'the dashboard\'s ' + p +
			    ' link goes to ' + href + ', not ' + d + '/' + p);
		}
	} else {
		check(/no bokeh/.test(await text(page, '[data-test=bokeh-note]')),
		    'the note about bokeh is missing');
		check(!await page.$('[data-test=dash-links]'),
		    'links to a dashboard that has no bokeh');
	}
	await until(async () => await inkedPixels(page, '#chart-w') > 200,
	    'the workers chart to be drawn');
	const kinds = await page.$$eval('#ievents li', (els) =>
	    els.map((e) => e.getAttribute('data-kind')));
	check(kinds.includes('scale_up'), 'no scale_up in the timeline: ' +
	    JSON.stringify(kinds));
	const head = await page.$$eval('#iworkers th', (els) =>
	    els.map((e) => e.textContent.trim()));
	for (const col of ['Slot / GPU', 'State', 'Address', 'PID', 'Uptime',
	    'Memory', 'GPU util'])
		check(head.includes(col), 'the workers table has no ' + col);
	/* hover the chart: the legend follows the crosshair */
	const box = await (await page.$('#chart-w')).boundingBox();
	await page.mouse.move(box.x + box.width - 60, box.y + box.height / 2);
	await until(async () => /^at /.test(await text(page, '#legend-w .at')),
	    'the chart legend to show the hovered time');
	await page.mouse.move(0, 0);
	say({ step: 'instance', workers: addrs.length, kinds });
}

async function actions(page, a, token) {
	const inst = await apiGet(a.url, '/v1/instances/' + a.instance);
	const newMax = inst.max - 1;

	await page.evaluate(() => sessionStorage.clear());
	/* a refused change: the dialog shows the daemon's reason */
	await page.click('#ihead button[data-act=scale]');
	await page.fill('#scale-min', String(inst.max));
	await page.fill('#scale-max', String(inst.max - 1));
	await page.click('#scale-submit');
	await page.waitForSelector('#dlg-token[open]', { timeout: STEP_MS });
	await page.fill('#token-input', 'not-the-token');
	await page.click('#form-token button[type=submit]');
	await until(async () => /refused/.test(await text(page, '#token-error') ||
	    ''), 'the token dialog to say the token was refused');
	await page.fill('#token-input', token);
	await page.click('#form-token button[type=submit]');
	await until(async () => {
		const err = await page.$('#scale-error:not([hidden])');

		return err ? (await err.textContent()).trim() : null;
	}, 'the scale dialog to show the API error');
	const err = await text(page, '#scale-error');
	check(/^400: .*min/.test(err), 'unexpected error text: ' + err);
	check(await page.$('.toast.bad'), 'no error toast');
	/* an accepted change, with the token kept from before */
	await page.fill('#scale-min', String(inst.min));
	await page.fill('#scale-max', String(newMax));
	await page.click('#scale-submit');
	await page.waitForSelector('#dlg-scale', { state: 'hidden',
	    timeout: STEP_MS });
	await until(async () => (await apiGet(a.url, '/v1/instances/' +
	    a.instance)).max === newMax, 'the API to report max ' + newMax);
	await until(async () => await text(page, '[data-test=desired] + .d') ===
	    'min ' + inst.min + ' · max ' + newMax, 'the page to show max ' + newMax);
	check(await page.evaluate(() => sessionStorage.getItem('edask.token')) ===
	    token, 'the token is not kept in sessionStorage');
	/* stop asks first; cancelling it changes nothing */
	await page.click('#ihead button[data-act=stop]');
	await page.waitForSelector('#dlg-confirm[open]', { timeout: STEP_MS });
	await page.click('#dlg-confirm button[data-act=dlg-cancel]');
	check((await apiGet(a.url, '/v1/instances/' + a.instance)).state ===
	    'started', 'cancelling the stop dialog stopped the instance');
	say({ step: 'actions', max: newMax, refusal: err });
}

async function main() {
	const a = parseArgs(process.argv.slice(2));
	let pw;

	if (!fs.existsSync(CHROMIUM))
		usage(CHROMIUM + ' is missing: run scripts/deps.sh (Debian ' +
		    'package chromium)');
	try {
		pw = require('playwright-core');
	} catch (e) {
		usage('playwright-core is missing: run scripts/deps.sh (npm ci ' +
		    'in tests/browser)');
	}
	fs.mkdirSync(a.out, { recursive: true });
	const origin = new URL(a.url).origin;
	const problems = [];
	const { ctx, profile } = await chromium.launch(pw, {
		viewport: { width: 1366, height: 768 },
		permissions: ['clipboard-read', 'clipboard-write'],
	});
	const page = ctx.pages()[0] || await ctx.newPage();
	const origins = [origin];
	let dash = null;
	let rc = 0;

	/* everything must come from the daemon itself (or Dask's dashboard) */
	await ctx.route('**/*', (route) => {
		const u = route.request().url();

		if (origins.some((o) => u.startsWith(o + '/')) ||
		    u.startsWith('data:'))
			return route.continue();
		problems.push('request outside the daemon: ' + u);
		return route.abort();
	});
	const watch = (pg, who) => {
		pg.on('pageerror', (e) => problems.push(who + 'page error: ' +
		    e.message));
		pg.on('console', (m) => {
			/* the API's 4xx replies the actions provoke are logged too */
			if (m.type() === 'error' &&
			    !/^Failed to load resource: the server responded with a status of 4/
			    .test(m.text()))
				problems.push(who + 'console error: ' + m.text());
		});
	};
	watch(page, '');
	try {
		const ov = await overview(page, a);
		if (a.grow && hasDashboard(ov.inst)) {
			/* Dask's own dashboard, in a second tab */
			origins.push(new URL(ov.inst.outputs
			    .dask_scheduler_dashboard_address).origin);
			dash = await ctx.newPage();
			watch(dash, 'dashboard: ');
		}
		if (a.grow)
			await grow(page, dash, a, ov.running, ov.inst);
		await page.bringToFront();
		await page.screenshot({ path: path.join(a.out, 'console.png'),
		    fullPage: true });
		await instancePage(page, a);
		await page.screenshot({ path: path.join(a.out,
		    'console-instance.png'), fullPage: true });
		/* the console_url itself, loaded directly */
		await page.goto(ov.inst.outputs.console_url, { waitUntil: 'load' });
		await page.waitForSelector('#ihead h1:text("' + a.instance + '")',
		    { timeout: STEP_MS });
		if (a.actions)
			await actions(page, a, process.env.EDASK_TOKEN || '');
		check(problems.length === 0, problems.join('; '));
		say({ step: 'done' });
	} catch (e) {
		rc = 1;
		say({ error: e.message, problems });
		try {
			await page.screenshot({ path: path.join(a.out,
			    'console-failure.png'), fullPage: true });
			if (dash)
				await dash.screenshot({ path: path.join(a.out,
				    'dask-failure.png'), fullPage: true });
		} catch (e2) {
			/* the failure is what matters */
		}
	} finally {
		await ctx.close();
		fs.rmSync(profile, { recursive: true, force: true });
	}
	process.exit(rc);
}

main().catch((e) => {
	say({ error: 'check_console: ' + (e && e.stack || e) });
	process.exit(1);
});
