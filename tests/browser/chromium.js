/*
 * Debian's chromium through playwright-core (no browser download), the way
 * every browser script here starts it: headless, in a fresh profile, with
 * the background networking that this closed network refuses turned off.
 */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const CHROMIUM = '/usr/bin/chromium';

/* A persistent context in a new temporary profile; options are merged in
 * (viewport, permissions).  Returns { ctx, profile }. */
async function launch(pw, options) {
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'edask-chromium-'));
	const ctx = await pw.chromium.launchPersistentContext(profile,
	    Object.assign({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu',
		    '--disable-quic', '--no-first-run',
		    '--disable-background-networking',
		    '--disable-component-update', '--disable-sync'],
	    }, options));
	return { ctx, profile };
}

module.exports = { CHROMIUM, launch };
