/*
 * edask console: one page that draws the daemon's state from its JSON API.
 *
 * Every second it reads /v1/instances and /v1/pool (and, on an instance's
 * page, that instance's /history); the decision log comes through the
 * /v1/events long-poll.  Each section is rebuilt from the state as plain
 * DOM nodes and merged into the page (morph), so text the operator has
 * selected or a button under the mouse survives the refresh.  Strings
 * from the API only ever become text nodes, never markup.
 *
 * Actions (start, stop, min/max) send the token the operator types in once;
 * it stays in this tab's sessionStorage.
 *
 * This file is inlined into the page by the daemon: it must never contain
 * the closing tag of a script element.
 */
'use strict';

const POLL_MS = 1000;
const STALE_MS = 4000;		/* no good poll for this long: say so */
const FETCH_TIMEOUT_MS = 8000;
const EVENTS_WAIT_S = 25;
const EVENTS_KEPT = 3000;
const HISTORY_MS = 15 * 60 * 1000;
const TOKEN_KEY = 'edask.token';
const PALETTE = ['#2e6be6', '#8e44ad', '#0e9384', '#c4320a', '#b5179e',
	'#3e4784', '#b54708', '#107569'];

const st = {
	route: { page: 'index' },
	instances: null,	/* GET /v1/instances .instances */
	pool: null,		/* GET /v1/pool */
	events: new Map(),	/* seq -> event */
	lastSeq: 0,
	eventsLoaded: false,
	backfilled: new Set(),	/* instances whose older events were read */
	history: [],		/* samples of the routed instance */
	historyOf: null,
	historyT: 0,
	lastOk: 0,		/* Date.now() of the last good poll */
	pollError: null,
	chartMin: 5,		/* minutes shown */
	hoverT: null,		/* chart crosshair time, ms */
	copied: null,		/* {value, until} */
	busy: new Set(),	/* "name:action" in flight */
	tokenAsked: false,
};

/* ----------------------------------------------------------- DOM helpers */

/* h('td', {class: 'x'}, 'text', node, [more]) -> element; text is text. */
function h(tag, attrs, ...kids) {
	const el = document.createElement(tag);

	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false)
			continue;
		el.setAttribute(k, v === true ? '' : String(v));
	}
	for (const k of kids.flat(Infinity)) {
		if (k === null || k === undefined || k === false)
			continue;
		el.appendChild(k instanceof Node ? k :
		    document.createTextNode(String(k)));
	}
	return el;
}

function sameKind(a, b) {
	return a.nodeType === b.nodeType && a.nodeName === b.nodeName &&
	    (a.nodeType !== 1 ||
	    a.getAttribute('data-key') === b.getAttribute('data-key'));
}

/* Makes old's children look like nu's, touching only what differs. */
function morphChildren(old, nu) {
	const kids = Array.from(nu.childNodes);

	kids.forEach((n, i) => {
		const o = old.childNodes[i];

		if (!o)
			old.appendChild(n);
		else if (!sameKind(o, n))
			old.replaceChild(n, o);
		else
			morphNode(o, n);
	});
	while (old.childNodes.length > kids.length)
		old.removeChild(old.lastChild);
}

function morphNode(o, n) {
	if (o.nodeType !== 1) {
		if (o.nodeValue !== n.nodeValue)
			o.nodeValue = n.nodeValue;
		return;
	}
	for (const a of Array.from(o.attributes))
		if (!n.hasAttribute(a.name))
			o.removeAttribute(a.name);
	for (const a of Array.from(n.attributes))
		if (o.getAttribute(a.name) !== a.value)
			o.setAttribute(a.name, a.value);
	morphChildren(o, n);
}

/* Replaces the content of the element with id by kids, in place. */
function patch(id, ...kids) {
	const el = document.getElementById(id);

	if (el)
		morphChildren(el, h('div', null, ...kids));
}

/* ------------------------------------------------------------ formatting */

function plural(n, word) {
	return n + ' ' + word + (n === 1 ? '' : 's');
}

function fmtBytes(n) {
	if (n === null || n === undefined || n < 0)
		return '—';
	const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let i = 0;

	while (n >= 1024 && i < u.length - 1) {
		n /= 1024;
		i++;
	}
	return (i === 0 || n >= 10 ? Math.round(n) : n.toFixed(1)) + ' ' + u[i];
}

function fmtDur(s) {
	if (s === null || s === undefined || s < 0)
		return '—';
	s = Math.floor(s);
	if (s < 60)
		return s + 's';
	if (s < 3600)
		return Math.floor(s / 60) + 'm ' + String(s % 60).padStart(2, '0') + 's';
	if (s < 86400)
		return Math.floor(s / 3600) + 'h ' +
		    String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm';
	return Math.floor(s / 86400) + 'd ' + Math.floor(s / 3600) % 24 + 'h';
}

function fmtTime(ms) {
	const d = new Date(ms);

	return [d.getHours(), d.getMinutes(), d.getSeconds()]
	    .map((x) => String(x).padStart(2, '0')).join(':');
}

function stateBadge(state, big) {
	return h('span', { class: 'badge s-' + state + (big ? ' big' : ''),
	    'data-test': 'state' }, state);
}

/* Instance hues follow the names' order, so they do not move around. */
function colorOf(name) {
	const names = (st.instances || []).map((i) => i.name).sort();
	const i = names.indexOf(name);

	return i < 0 ? '#9aa3b2' : PALETTE[i % PALETTE.length];
}

/* Where the decisions come from, for the colour of their label. */
function kindClass(kind) {
	switch (kind) {
	case 'scale_up': case 'started': case 'registered': case 'restored':
		return 'k-up';
	case 'retire': case 'retired': case 'scaled': case 'stopped':
	case 'worker_gone': case 'undeployed':
		return 'k-down';
	case 'pending': case 'held': case 'starting': case 'stopping':
	case 'undeploying': case 'updated': case 'observe':
		return 'k-wait';
	case 'error': case 'worker_failed': case 'start_timeout': case 'kill':
	case 'worker_lost': case 'orphan':
		return 'k-bad';
	default:
		return '';
	}
}

/* ------------------------------------------------------------------- API */

function token() {
	return sessionStorage.getItem(TOKEN_KEY) || '';
}

class ApiError extends Error {
	constructor(status, message) {
		super(message);
		this.status = status;
	}
}

/* fetch + JSON; throws ApiError with the daemon's {"error"} text. */
async function api(method, path, body, timeoutMs) {
	const ctl = new AbortController();
	const timer = setTimeout(() => ctl.abort(), timeoutMs || FETCH_TIMEOUT_MS);
	const headers = {};
	let r, text;

	if (token())
		headers.Authorization = 'Bearer ' + token();
	if (body !== undefined)
		headers['Content-Type'] = 'application/json';
	try {
		r = await fetch(path, { method, headers, signal: ctl.signal,
		    cache: 'no-store',
		    body: body === undefined ? undefined : JSON.stringify(body) });
		text = await r.text();
	} catch (e) {
		throw new ApiError(0, e.name === 'AbortError' ?
		    'no answer from the daemon within ' +
		    (timeoutMs || FETCH_TIMEOUT_MS) / 1000 + ' s' :
		    'cannot reach the daemon (' + e.message + ')');
	} finally {
		clearTimeout(timer);
	}
	let doc = null;
	try {
		doc = JSON.parse(text);
	} catch (e) {
		/* leave doc null: reported below if the status is bad */
	}
	if (!r.ok)
		throw new ApiError(r.status, doc && doc.error ? doc.error :
		    'HTTP ' + r.status + ' ' + r.statusText);
	if (doc === null)
		throw new ApiError(r.status, 'the daemon sent a reply that is not JSON');
	return doc;
}

/* --------------------------------------------------------------- routing */

function parseRoute(path) {
	const m = /^\/instances\/([a-z][a-z0-9-]*)$/.exec(path);

	if (path === '/' || path === '')
		return { page: 'index' };
	if (m)
		return { page: 'instance', name: m[1] };
	return { page: 'missing' };
}

function go(path) {
	if (path !== location.pathname)
		history.pushState(null, '', path);
	setRoute();
	window.scrollTo(0, 0);
}

function setRoute() {
	st.route = parseRoute(location.pathname);
	st.hoverT = null;
	if (st.route.page === 'instance' && st.historyOf !== st.route.name) {
		st.history = [];
		st.historyOf = st.route.name;
		st.historyT = 0;
	}
	const view = document.getElementById('view');

	view.textContent = '';
	if (st.route.page === 'index')
		view.appendChild(skeletonIndex());
	else if (st.route.page === 'instance')
		view.appendChild(skeletonInstance());
	else
		view.appendChild(h('div', { class: 'card empty' },
		    'The console has no page at ', h('code', null,
		    location.pathname), '. ', h('a', { href: '/' },
		    'All instances')));
	render();
	poll();
	backfillEvents();
}

/* ------------------------------------------------------------ skeletons */

function skeletonIndex() {
	return h('div', null,
	    h('section', { class: 'card' },
		h('div', { class: 'card-head' }, h('h2', null, 'Instances'),
		    h('span', { class: 'muted', id: 'inst-count' })),
		h('div', { id: 'instances' }, h('p', { class: 'empty' },
		    'Loading…'))),
	    h('div', { class: 'grid2' },
		h('section', { class: 'card' },
		    h('div', { class: 'card-head' }, h('h2', null, 'Pool'),
			h('span', { class: 'muted', id: 'pool-head' })),
		    h('div', { id: 'pool' })),
		h('section', { class: 'card' },
		    h('div', { class: 'card-head' },
			h('h2', null, 'Latest decisions'),
			h('span', { class: 'muted' }, 'all instances, newest first')),
		    h('div', { id: 'events', class: 'scroll' }))));
}

function skeletonInstance() {
	const seg = h('div', { class: 'seg', id: 'chart-seg' });

	return h('div', null,
	    h('div', { id: 'ihead' }),
	    h('div', { id: 'ibanner' }),
	    h('div', { id: 'istats' }),
	    h('div', { class: 'cols' },
		h('section', { class: 'card' },
		    h('div', { class: 'card-head' }, h('h2', null, 'Activity'),
			h('span', { class: 'muted' }, 'one sample per scaling tick'),
			h('span', { class: 'right' }, seg)),
		    h('div', { id: 'legend-w', class: 'chart-legend' }),
		    h('canvas', { id: 'chart-w', class: 'chart',
			'aria-label': 'workers over time' }),
		    h('div', { id: 'legend-t', class: 'chart-legend' }),
		    h('canvas', { id: 'chart-t', class: 'chart tasks',
			'aria-label': 'tasks over time' })),
		h('section', { class: 'card' },
		    h('div', { class: 'card-head' }, h('h2', null, 'Outputs')),
		    h('div', { id: 'ioutputs', class: 'outputs-big' }),
		    h('div', { id: 'idash' }),
		    h('div', { id: 'ipolicy' }))),
	    h('section', { class: 'card' },
		h('div', { class: 'card-head' }, h('h2', null, 'Workers'),
		    h('span', { class: 'muted', id: 'workers-sub' })),
		h('div', { id: 'iworkers' })),
	    h('section', { class: 'card' },
		h('div', { class: 'card-head' }, h('h2', null, 'Decisions'),
		    h('span', { class: 'muted' }, 'what edask did and why, ' +
		    'newest first')),
		h('div', { id: 'ievents', class: 'scroll' })));
}

/* --------------------------------------------------------------- render */

function render() {
	renderTop();
	if (st.route.page === 'index')
		renderIndex();
	else if (st.route.page === 'instance')
		renderInstance();
}

function renderTop() {
	const live = document.getElementById('live');
	const age = Date.now() - st.lastOk;
	const ok = st.lastOk > 0 && age < STALE_MS;
	const tb = document.getElementById('token-btn');
	const crumbs = [];

	if (st.lastOk === 0 && !st.pollError) {
		live.className = 'live';
		live.textContent = 'connecting…';
	} else if (ok) {
		live.className = 'live ok';
		live.textContent = 'live';
		live.title = 'refreshed every second';
	} else {
		live.className = 'live bad';
		live.textContent = 'no contact with the daemon' + (st.lastOk ?
		    ' for ' + fmtDur(age / 1000) : '');
		live.title = st.pollError || '';
	}
	document.body.classList.toggle('stale', st.lastOk > 0 && !ok);
	tb.textContent = token() ? 'Token set' : 'Set token';
	tb.classList.toggle('on', !!token());
	tb.title = token() ? 'Actions use the token you gave; click to change ' +
	    'or forget it' : 'Give the API token to start, stop and scale';

	if (st.route.page === 'instance')
		crumbs.push(h('span', { class: 'sep' }, '/'), h('a',
		    { href: '/' }, 'instances'), h('span', { class: 'sep' }, '/'),
		    h('span', null, st.route.name));
	patch('crumbs', crumbs);

	patch('pool-sum', allPools().map((p, i) => [i > 0 ? ' · ' : '',
	    p.name, ' pool: ', h('b', null, p.size - p.free), ' of ', p.size,
	    ' ', slotWord(p), ' in use']));
}

/* Every pool of GET /v1/pool (an older daemon has only the top level). */
function allPools() {
	const p = st.pool;

	return !p ? [] : Array.isArray(p.pools) ? p.pools : [p];
}

function slotWord(p) {
	return p.kind === 'gpu' ? 'GPUs' : p.kind === 'cpu' ? 'CPU slots' :
	    p.kind === 'slurm' ? 'Slurm jobs' : 'simulated GPUs';
}

function copyButton(value, what) {
	const done = st.copied && st.copied.value === value &&
	    st.copied.until > Date.now();

	return h('button', { type: 'button', class: 'copy' + (done ? ' done' : ''),
	    'data-act': 'copy', 'data-value': value,
	    title: 'Copy the ' + what + ' to the clipboard' },
	    done ? 'copied' : 'copy');
}

function outputValue(value, what) {
	if (!value)
		return h('span', { class: 'faint' }, '— once started');
	return [h('code', null, value), copyButton(value, what)];
}

function actionButtons(inst, big) {
	const running = inst.state === 'started' || inst.state === 'starting';
	const stopping = inst.state === 'stopping';
	const kids = [];
	const busy = (a) => st.busy.has(inst.name + ':' + a);

	if (running || stopping)
		kids.push(h('button', { type: 'button', class: 'btn danger' +
		    (big ? '' : ' small'), 'data-act': 'stop',
		    'data-name': inst.name, disabled: stopping || busy('stop'),
		    title: 'Stop the scheduler and every worker' },
		    stopping ? 'Stopping…' : 'Stop'));
	else
		kids.push(h('button', { type: 'button', class: 'btn primary' +
		    (big ? '' : ' small'), 'data-act': 'start',
		    'data-name': inst.name, disabled: busy('start'),
		    title: 'Start the scheduler and min workers' }, 'Start'));
	kids.push(h('button', { type: 'button', class: 'btn' +
	    (big ? '' : ' small'), 'data-act': 'scale',
	    'data-name': inst.name, disabled: busy('scale'),
	    title: 'Change min and max workers' },
	    'Min / max…'));
	return h('div', { class: 'actions' }, kids);
}

/* One cell per worker the instance may have: filled = running, amber =
 * launching, outlined = wanted but not there yet. */
function pips(inst) {
	const n = Math.min(inst.max, 32);
	const run = inst.workers_running, launch = inst.workers_launching;
	const cells = [];

	for (let i = 0; i < n; i++) {
		let c = 'pip';

		if (i < run)
			c += ' run';
		else if (i < run + launch)
			c += ' launch';
		else if (i < inst.desired)
			c += ' want';
		cells.push(h('span', { class: c }));
	}
	return h('div', { class: 'pips', title: 'each cell is a worker up to ' +
	    'max: green running, amber launching, outlined wanted' }, cells);
}

function reasonLine(inst) {
	const parts = [];

	if (inst.error)
		parts.push(h('span', { class: 'err' }, 'Error: ', inst.error));
	if (inst.hold)
		parts.push(h('span', { class: 'hold' }, 'Held: ', inst.hold));
	if (inst.pending > 0)
		parts.push(h('span', { class: 'hold' }, plural(inst.pending,
		    'worker'), ' waiting for a free slot'));
	if (inst.scheduler && inst.scheduler.error)
		parts.push(h('span', { class: 'err' }, 'Scheduler: ',
		    inst.scheduler.error));
	if (inst.reason && inst.state === 'started')
		parts.push(h('span', null, 'Scaler: ', h('span', { class: 'mono' },
		    inst.reason)));
	return parts.length ? parts.reduce((acc, p) => acc.length ?
	    acc.concat(' · ', p) : [p], []) : null;
}

function renderIndex() {
	const list = st.instances;

	if (list === null)
		return;
	patch('inst-count', list.length ? plural(list.length, 'instance') : '');
	if (list.length === 0) {
		patch('instances', h('p', { class: 'empty' }, 'No instance ' +
		    'deployed. Deploy one with ', h('code', null,
		    'edask deploy SPEC.yaml'), '.'));
	} else {
		const rows = [];

		for (const inst of list) {
			const reason = reasonLine(inst);
			const sch = inst.scheduler || {};
			const o = inst.outputs || {};

			rows.push(h('tr', { 'data-key': inst.name,
			    'data-instance': inst.name,
			    class: reason ? 'has-reason' : null },
			    h('td', null, h('a', { class: 'iname',
				href: '/instances/' + inst.name }, inst.name),
				h('div', { class: 'sub' }, 'pool ', inst.pool)),
			    h('td', null, stateBadge(inst.state)),
			    h('td', null,
				h('div', { class: 'counts num' },
				    h('span', { 'data-test': 'running' },
					inst.workers_running),
				    h('span', { class: 'of' }, ' / '),
				    h('span', { 'data-test': 'desired' },
					inst.desired)),
				h('div', { class: 'sub' }, 'running / desired',
				    inst.workers_launching ? ', +' +
				    inst.workers_launching + ' launching' : ''),
				pips(inst)),
			    h('td', { class: 'num' }, h('div', { class: 'counts',
				'data-test': 'range' }, inst.min, '–', inst.max),
				h('div', { class: 'sub' }, 'min – max')),
			    h('td', { class: 'num' },
				h('div', null, h('b', null, sch.queued || 0),
				    ' queued'),
				h('div', null, h('b', null, sch.processing || 0),
				    ' processing'),
				sch.no_worker ? h('div', { class: 'hold' },
				    sch.no_worker, ' no-worker') : null),
			    h('td', null, h('div', { class: 'outs' },
				h('span', { class: 'k' }, 'scheduler'),
				h('span', { class: 'v', 'data-test': 'sched' },
				    outputValue(o.dask_scheduler_address,
				    'scheduler address')),
				h('span', { class: 'k' }, 'dashboard'),
				h('span', { class: 'v', 'data-test': 'dash' },
				    outputValue(o.dask_scheduler_dashboard_address,
				    'dashboard address')))),
			    h('td', null, actionButtons(inst, false))));
			if (reason)
				rows.push(h('tr', { class: 'reason',
				    'data-key': inst.name + '-reason' },
				    h('td', { colspan: 7 }, reason)));
		}
		patch('instances', h('table', null, h('thead', null, h('tr', null,
		    h('th', null, 'Instance'), h('th', null, 'State'),
		    h('th', null, 'Workers'), h('th', null, 'Range'),
		    h('th', null, 'Tasks'), h('th', null, 'Outputs'),
		    h('th', null, ''))), h('tbody', null, rows)));
	}
	renderPool();
	patch('events', eventList(null, 60));
	document.title = 'edask · ' + list.map((i) => i.name + ' ' +
	    i.workers_running + '/' + i.desired).join(', ');
}

function renderPool() {
	const pools = allPools();

	if (pools.length === 0)
		return;
	patch('pool-head', pools.map((p, i) => [i > 0 ? '  |  ' : '', p.name,
	    ' · ', p.kind === 'simulated' ? plural(p.size,
	    'simulated GPU slot') + ' (no utilization figures)' :
	    p.kind === 'slurm' ? plural(p.size, 'Slurm job') + ' of ' +
	    plural(p.gpus_per_job, 'GPU') : plural(p.size, p.kind === 'gpu' ?
	    'GPU' : 'CPU slot'), ' · ', p.free, ' free']));
	patch('pool', pools.map((p) => poolBlock(p, pools.length > 1)));
}

/* One pool: a tile per slot, then who holds what. */
function poolBlock(p, titled) {
	const tiles = p.slots.map((s) => {
		const held = !!s.instance;
		const util = typeof s.util === 'number' ? s.util : null;

		return h('div', { class: 'slot' + (held ? '' : ' free'),
		    style: held ? '--c:' + colorOf(s.instance) : null,
		    'data-slot': s.slot },
		    h('div', { class: 'top2' },
			h('span', { class: 'gpu' }, p.kind === 'slurm' ?
			    (s.job_id ? 'job ' + s.job_id : 'Slurm') :
			    s.gpu === null || s.gpu === undefined ? 'CPU' :
			    'GPU ' + s.gpu),
			h('span', null, 'slot ', s.slot)),
		    h('div', { class: 'holder' }, held ? h('a',
			{ href: '/instances/' + s.instance }, s.instance) : 'free',
			held ? h('span', { class: 'tag' + (s.borrowed ?
			    ' borrowed' : ''), title: s.borrowed ?
			    'beyond its sharing.owned: given back when an ' +
			    'instance below its share needs it' :
			    'within its sharing.owned' }, s.borrowed ?
			    'borrowed' : 'owned') : null),
		    s.borrowed && s.owner ? h('div', { class: 'w owner' },
			'owned by ', h('a', { href: '/instances/' + s.owner },
			s.owner)) : !held && s.owner ? h('div',
			{ class: 'w owner' }, 'owned by ', h('a',
			{ href: '/instances/' + s.owner }, s.owner)) : null,
		    s.reserved_for ? h('div', { class: 'w reserved' },
			'\u2192 ', h('a', { href: '/instances/' +
			s.reserved_for }, s.reserved_for), ' (reclaimed)') :
			null,
		    h('div', { class: 'w' }, s.worker ? s.worker + ' · ' +
			(s.worker_state || '') : held ? 'reserved' : '\u00a0'),
		    s.job_state ? h('div', { class: 'w' }, s.job_state,
			s.node ? ' on ' + s.node : '',
			s.job_gpus ? ', GPU ' + s.job_gpus : '') : null,
		    util === null ? h('div', { class: 'util faint' },
			s.name ? s.name : held ? 'utilization n/a' : '') :
			h('div', { class: 'util' }, h('div', { class: 'bar' },
			    h('i', { style: 'width:' + util + '%' })),
			    h('span', { class: 'num' }, util + '%')),
		    s.mem_total ? h('div', { class: 'w num' },
			fmtBytes(s.mem_used), ' / ', fmtBytes(s.mem_total)) :
			null);
	});
	const legend = (p.instances || []).map((i) =>
	    h('span', { style: '--c:' + colorOf(i.name) }, h('span',
		{ class: 'chip' }), h('b', null, i.name), ' holds ', i.held,
		i.owned ? ' (owns ' + i.owned + ')' : '',
		i.borrowed ? ', ' + i.borrowed + ' borrowed' : '',
		i.reclaiming ? ', ' + i.reclaiming + ' coming back' : '',
		typeof i.entitled === 'number' ? ' · fair share ' +
		i.entitled : ''));

	return h('div', { class: 'pool-block' },
	    titled ? h('h3', null, p.name, h('span', { class: 'muted' }, ' · ',
		p.kind === 'slurm' ? 'Slurm' : p.kind)) : null,
	    p.listing_error ? h('p', { class: 'err' }, 'Slurm listing: ',
		p.listing_error) : null,
	    h('div', { class: 'slots' }, tiles),
	    legend.length ? h('div', { class: 'legend-i' }, legend) : null);
}

function eventList(instance, max) {
	const evs = Array.from(st.events.values())
	    .filter((e) => instance === null || e.instance === instance)
	    .sort((a, b) => b.seq - a.seq).slice(0, max);

	if (!st.eventsLoaded)
		return h('p', { class: 'empty' }, 'Loading…');
	if (evs.length === 0)
		return h('p', { class: 'empty' }, 'No decisions yet.');
	return h('ul', { class: 'events' + (instance === null ? ' with-inst' :
	    '') }, evs.map((e) => h('li', { 'data-key': String(e.seq),
	    'data-kind': e.kind },
	    h('span', { class: 't', title: e.time }, fmtTime(e.ts_ms)),
	    instance === null ? h('span', { class: 'i' }, e.instance ?
		h('a', { href: '/instances/' + e.instance, style: 'color:' +
		colorOf(e.instance) }, e.instance) : h('span',
		{ class: 'faint' }, 'edask')) : null,
	    h('span', null, h('span', { class: 'kind ' + kindClass(e.kind) },
		e.kind)),
	    h('span', { class: 'm', title: e.message }, e.message))));
}

function findInstance(name) {
	return (st.instances || []).find((i) => i.name === name) || null;
}

function stat(label, value, detail, cls, test) {
	return h('div', { class: 'stat' + (cls ? ' ' + cls : '') },
	    h('div', { class: 'l' }, label),
	    h('div', { class: 'v', 'data-test': test }, value),
	    h('div', { class: 'd' }, detail || '\u00a0'));
}

function renderInstance() {
	const name = st.route.name;
	const inst = findInstance(name);

	if (st.instances === null)
		return;
	if (!inst) {
		patch('ihead', h('div', { class: 'ihead' }, h('h1', null, name)));
		patch('ibanner', h('div', { class: 'banner bad' }, 'No instance ' +
		    'named ', h('b', null, name), ' is deployed. ', h('a',
		    { href: '/' }, 'All instances')));
		patch('istats');
		patch('ioutputs');
		patch('iworkers');
		drawCharts();
		patch('ievents', eventList(name, 200));
		document.title = name + ' (not found) · edask';
		return;
	}
	const sch = inst.scheduler || {};
	const o = inst.outputs || {};

	patch('ihead', h('div', { class: 'ihead', 'data-instance': name },
	    h('h1', null, name), stateBadge(inst.state, true),
	    h('span', { class: 'muted' }, 'pool ', inst.pool, ' · ',
		inst.spec && inst.spec.workers ? plural(inst.spec.workers.gpus,
		'GPU') + ' and ' + plural(inst.spec.workers.threads,
		'thread') + ' per worker' : ''),
	    actionButtons(inst, true)));

	const banner = [];
	if (inst.error)
		banner.push(h('div', { class: 'banner bad' }, h('b', null,
		    'Error: '), inst.error));
	if (sch.error)
		banner.push(h('div', { class: 'banner bad' }, h('b', null,
		    'Scheduler not observed: '), sch.error));
	if (inst.hold || inst.pending > 0)
		banner.push(h('div', { class: 'banner warn' },
		    inst.hold ? [h('b', null, 'Held: '), inst.hold] : null,
		    inst.hold && inst.pending > 0 ? ' · ' : null,
		    inst.pending > 0 ? plural(inst.pending, 'worker') +
		    ' waiting for a free slot' : null));
	if (inst.losses_waiting > 0)
		banner.push(h('div', { class: 'banner warn' }, h('b', null,
		    'Lost: '), plural(inst.losses_waiting, 'worker') + '; what ' +
		    'they held is told in the events once the scheduler counts ' +
		    'it'));
	if (inst.state === 'started' && inst.reason)
		banner.push(h('div', { class: 'banner' }, h('b', null,
		    'Scaler now: '), h('span', { class: 'mono' }, inst.reason),
		    ' → desired ', h('b', null, inst.desired)));
	else if (inst.state === 'stopped' || inst.state === 'registered')
		banner.push(h('div', { class: 'banner warn' }, 'The instance is ' +
		    inst.state + ': no scheduler, no workers. Start it to get ' +
		    'its outputs.'));
	patch('ibanner', banner);

	const running = inst.workers_running;
	patch('istats', h('div', { class: 'stats' },
	    stat('Workers running', running, inst.workers_launching ?
		'+' + inst.workers_launching + ' launching' : 'of max ' +
		inst.max, running > 0 ? 'hi' : inst.state === 'started' ?
		'warn' : null, 'running'),
	    stat('Desired', inst.desired, 'min ' + inst.min + ' · max ' +
		inst.max, null, 'desired'),
	    stat('Tasks queued', sch.queued || 0, sch.no_worker ?
		sch.no_worker + ' waiting for a worker kind (no-worker)' :
		'not yet on a worker', sch.queued ? 'warn' : null, 'queued'),
	    stat('Tasks processing', sch.processing || 0, 'on workers now',
		null, 'processing'),
	    stat('In memory', sch.tasks_in_memory || 0, 'results held',
		null, 'memory'),
	    stat('Adaptive target', sch.adaptive_target || 0,
		'Dask\'s own wish', null, 'target')));

	/* how a client connects: the config file for DASK_CONFIG, and a
	 * line of Python with the TLS credentials spelled out */
	const keys = ['dask_scheduler_address',
	    'dask_scheduler_dashboard_address', 'console_url',
	    'dask_client_config', 'dask_client_snippet'];
	if (inst.notebook && inst.notebook.enabled)
		keys.push('notebook_url');
	patch('ioutputs',
	    keys.map((k) => h('div', { class: 'row', 'data-output': k },
		h('div', { class: 'k' }, k),
		h('div', { class: 'v' }, o[k] ? [h('code', null, o[k]),
		    copyButton(o[k], k.replace(/_/g, ' ')),
		    k === 'notebook_url' ? h('a', { href: o[k],
		    target: '_blank', rel: 'noopener', class: 'btn' },
		    'open') : null] : h('span', { class: 'faint' },
		    k === 'notebook_url' ? '— once the notebook server answers' :
		    '— once started')))),
	    sch.pid ? h('div', { class: 'sub wrap', style: 'margin-top:6px' },
		'scheduler pid ', sch.pid, ' · log ', h('span',
		{ class: 'mono' }, sch.log)) : null);

	patch('idash', dashNote(inst));
	patch('ipolicy', policy(inst));
	renderWorkers(inst);
	drawCharts();
	patch('ievents', eventList(name, 200));
	document.title = name + ' ' + running + '/' + inst.desired +
	    ' workers · edask';
}

/*
 * Dask's own dashboard, where the scheduler has bokeh: links to its pages.
 * Where it has none (Debian's Dask), this page is the dashboard, and the
 * note says so.
 */
function dashNote(inst) {
	const eng = inst.engine;
	const d = inst.outputs && inst.outputs.dask_scheduler_dashboard_address;

	if (!eng)
		return null;
	if (eng.dashboard) {
		const link = (path, label) => h('a', { href: d ? d + path :
		    undefined, target: '_blank', rel: 'noopener', class: 'btn',
		    'data-test': 'dash-' + label }, label);

		return h('div', { class: 'note', 'data-test': 'dash-links' },
		    h('div', null, 'Dask\'s own dashboard (distributed ',
		    eng.distributed, ', bokeh ', eng.bokeh, ')', d ? ':' :
		    ': once started'), d ? h('div', { class: 'dash-links' },
		    link('/status', 'status'), link('/workers', 'workers'),
		    link('/tasks', 'tasks')) : null);
	}
	return h('p', { class: 'note', 'data-test': 'bokeh-note' },
	    'This scheduler\'s Python (distributed ', eng.distributed,
	    ') has no bokeh, so the scheduler\'s own dashboard pages are ' +
	    'empty: this page is the instance\'s dashboard. The dashboard ' +
	    'address still serves the scheduler\'s /health, /metrics and ' +
	    'JSON API.');
}

/* The spec's scaling rules in words: when workers come and go. */
function policy(inst) {
	const sc = inst.spec && inst.spec.scaling;

	if (!sc)
		return null;
	return h('div', { class: 'policy' }, h('h4', null, 'Scaling rules'),
	    h('ul', null,
		h('li', null, 'Looks at the scheduler every ', h('b', null,
		    sc.interval), '; adds workers at once when tasks queue.'),
		h('li', null, 'Retires a worker idle for ', h('b', null,
		    sc.idle_timeout), ' (GPU under ', sc.gpu_idle_util, '% where ' +
		    'known), its data moved first, never below min, and not ' +
		    'within ', h('b', null, sc.scale_down_delay), ' of a ' +
		    'scale-up.'),
		h('li', null, 'A worker that has not registered after ',
		    h('b', null, sc.start_timeout), ' is replaced.')));
}

function renderWorkers(inst) {
	const ws = (inst.workers || []).slice().sort((a, b) =>
	    parseInt(a.id.slice(1), 10) - parseInt(b.id.slice(1), 10));

	patch('workers-sub', plural(ws.length, 'worker'), ' · one slot each');
	if (ws.length === 0) {
		patch('iworkers', h('p', { class: 'empty' }, 'No workers.'));
		return;
	}
	patch('iworkers', h('div', { class: 'hscroll' }, h('table',
	    { class: 'workers' },
	    h('thead', null, h('tr', null,
		h('th', null, 'Worker'), h('th', null, 'State'),
		h('th', null, 'Slot / GPU'), h('th', null, 'Address'),
		h('th', null, 'PID'), h('th', null, 'Uptime'),
		h('th', null, 'Memory'), h('th', null, 'Data'),
		h('th', null, 'Tasks'), h('th', null, 'GPU util'))),
	    h('tbody', null, ws.map((w) => h('tr', { 'data-key': w.id,
	    'data-worker': w.id },
		h('td', null, h('b', null, w.id), ' ', h('span',
		    { class: 'muted' }, w.name)),
		h('td', null, stateBadge(w.state)),
		h('td', { class: 'num' }, 'slot ', w.slot, w.gpu === null ? '' :
		    ' · GPU ' + w.gpu),
		h('td', null, w.address ? h('span', { class: 'mono' },
		    w.address) : h('span', { class: 'faint' },
		    'registering…')),
		h('td', { class: 'num' }, w.pid),
		h('td', { class: 'num' }, fmtDur(w.uptime_s)),
		h('td', { class: 'num' }, fmtBytes(w.memory)),
		h('td', { class: 'num' }, fmtBytes(w.bytes), w.keys ? ' · ' +
		    plural(w.keys, 'key') : ''),
		h('td', { class: 'num' }, w.busy_tasks ? h('b', null,
		    w.busy_tasks, ' busy') : w.idle_s !== null &&
		    w.idle_s !== undefined ? h('span', { class: 'muted' },
		    'idle ', fmtDur(w.idle_s)) : '—'),
		h('td', { class: 'num' }, typeof w.gpu_util === 'number' ?
		    [h('span', { class: 'bar' }, h('i', { style: 'width:' +
		    w.gpu_util + '%' })), w.gpu_util + '%'] : h('span',
		    { class: 'faint' }, 'n/a'))))))));
}

/* ---------------------------------------------------------------- charts */

const WORKER_SERIES = [
	{ key: 'running', label: 'running', color: '#12a150', fill: '#12a15055',
	    stack: true },
	{ key: 'launching', label: 'launching', color: '#e0a100',
	    fill: '#f0b429cc', stack: true, noLine: true },
	{ key: 'retiring', label: 'retiring', color: '#2e6be6',
	    fill: '#2e6be699', stack: true, noLine: true },
	{ key: 'desired', label: 'desired', color: '#1b2230', dash: true },
];
const TASK_SERIES = [
	{ key: 'queued', label: 'queued', color: '#c77700', fill: '#f3c76655' },
	{ key: 'processing', label: 'processing', color: '#2e6be6',
	    fill: '#2e6be633' },
	{ key: 'no_worker', label: 'no-worker', color: '#d0312d' },
];

/* A round step for about four grid lines up to v (whole numbers: the
 * charts count workers and tasks), and the top it gives. */
function axis(v) {
	const raw = Math.max(v, 4) / 4;
	const mag = Math.pow(10, Math.floor(Math.log10(raw)));
	let step = 10 * mag;

	for (const m of [1, 2, 5])
		if (m * mag >= raw) {
			step = m * mag;
			break;
		}
	step = Math.max(1, step);
	return { step, top: Math.max(step, Math.ceil(v / step) * step, 4) };
}

function sampleAt(samples, t) {
	let best = null;

	for (const s of samples)
		if (best === null || Math.abs(s.t_ms - t) < Math.abs(best.t_ms - t))
			best = s;
	return best;
}

/* Adds to path the steps of val over the samples of seg: each value holds
 * until the next sample (end(i)). */
function steps(path, seg, val, x, y, end, t1) {
	seg.forEach((s, i) => {
		const x0 = x(s.t_ms), x1 = x(Math.min(end(i), t1));

		if (i === 0)
			path.moveTo(x0, y(val[i]));
		else
			path.lineTo(x0, y(val[i]));
		path.lineTo(x1, y(val[i]));
	});
	return path;
}

/* Draws series of samples in [t0, t1] as steps; stacked series sit on
 * each other; a gap of more than 5 s (daemon down) breaks the lines. */
function drawChart(canvas, samples, series, t0, t1, opts) {
	const dpr = window.devicePixelRatio || 1;
	const W = canvas.clientWidth, H = canvas.clientHeight;

	if (W === 0 || H === 0)
		return;
	if (canvas.width !== Math.round(W * dpr) ||
	    canvas.height !== Math.round(H * dpr)) {
		canvas.width = Math.round(W * dpr);
		canvas.height = Math.round(H * dpr);
	}
	const c = canvas.getContext('2d');
	const L = 34, R = 44, T = 10, B = 20;
	const pw = W - L - R, ph = H - T - B;
	const vis = samples.filter((s) => s.t_ms >= t0 - 2000);
	let top = opts.yMin || 0;

	c.setTransform(dpr, 0, 0, dpr, 0, 0);
	c.clearRect(0, 0, W, H);
	for (const s of vis) {
		let stack = 0;

		for (const se of series) {
			const v = s[se.key] || 0;

			if (se.stack) {
				stack += v;
				top = Math.max(top, stack);
			} else {
				top = Math.max(top, v);
			}
		}
	}
	for (const line of opts.lines || [])
		top = Math.max(top, line.v);
	const ax = axis(top);

	top = ax.top;
	const x = (t) => L + (t - t0) / (t1 - t0) * pw;
	const y = (v) => T + ph - v / top * ph;

	/* grid and axes */
	c.font = '11px system-ui, "DejaVu Sans", sans-serif';
	c.fillStyle = '#646f82';
	c.strokeStyle = '#eceef2';
	c.lineWidth = 1;
	c.textAlign = 'right';
	c.textBaseline = 'middle';
	for (let v = 0; v <= top; v += ax.step) {
		const yy = Math.round(y(v)) + 0.5;

		c.beginPath();
		c.moveTo(L, yy);
		c.lineTo(L + pw, yy);
		c.stroke();
		c.fillText(String(v), L - 6, yy);
	}
	c.textAlign = 'center';
	c.textBaseline = 'top';
	const span = t1 - t0;
	const step = span > 8 * 60000 ? 180000 : span > 3 * 60000 ? 60000 :
	    span > 90000 ? 30000 : 15000;
	for (let d = 0; d <= span; d += step) {
		const xx = Math.round(x(t1 - d)) + 0.5;

		c.strokeStyle = '#f1f2f5';
		c.beginPath();
		c.moveTo(xx, T);
		c.lineTo(xx, T + ph);
		c.stroke();
		if (t1 - d - t0 < 12000 && d !== 0)
			continue;	/* no label squeezed against the axis */
		c.fillText(d === 0 ? 'now' : d % 60000 === 0 ? '−' + d / 60000 +
		    ' min' : '−' + d / 1000 + ' s', xx, T + ph + 5);
	}

	/* segments between gaps */
	const segs = [];
	let cur = [];
	for (const s of vis) {
		if (cur.length && s.t_ms - cur[cur.length - 1].t_ms > 5000) {
			segs.push(cur);
			cur = [];
		}
		cur.push(s);
	}
	if (cur.length)
		segs.push(cur);

	c.save();
	c.beginPath();
	c.rect(L, T - 2, pw + 1, ph + 4);
	c.clip();
	for (const seg of segs) {
		const end = (i) => i + 1 < seg.length ? seg[i + 1].t_ms :
		    seg[i].t_ms + 1000;
		let base = seg.map(() => 0);

		for (const se of series) {
			const val = seg.map((s, i) => (se.stack ? base[i] : 0) +
			    (s[se.key] || 0));
			const path = steps(new Path2D(), seg, val, x, y, end, t1);

			if (se.fill) {
				const area = steps(new Path2D(), seg, val, x, y, end,
				    t1);

				for (let i = seg.length - 1; i >= 0; i--) {
					const b = se.stack ? base[i] : 0;

					area.lineTo(x(Math.min(end(i), t1)), y(b));
					area.lineTo(x(seg[i].t_ms), y(b));
				}
				area.closePath();
				c.fillStyle = se.fill;
				c.fill(area);
			}
			const all0 = val.every((v, i) => v === (se.stack ?
			    base[i] : 0));
			if (!se.noLine && !(all0 && se.key === 'no_worker')) {
				c.strokeStyle = se.color;
				c.lineWidth = se.dash ? 1.5 : 2;
				c.setLineDash(se.dash ? [5, 4] : []);
				c.stroke(path);
				c.setLineDash([]);
			}
			if (se.stack)
				base = val;
		}
	}
	c.restore();

	/* reference lines (min, max) labelled on the right */
	c.textAlign = 'left';
	c.textBaseline = 'middle';
	for (const line of opts.lines || []) {
		const yy = Math.round(y(line.v)) + 0.5;

		c.strokeStyle = '#9aa3b2';
		c.setLineDash([2, 3]);
		c.beginPath();
		c.moveTo(L, yy);
		c.lineTo(L + pw, yy);
		c.stroke();
		c.setLineDash([]);
		c.fillStyle = '#646f82';
		c.fillText(line.label, L + pw + 5, yy);
	}

	if (vis.length === 0) {
		c.fillStyle = '#9aa3b2';
		c.textAlign = 'center';
		c.textBaseline = 'middle';
		c.font = '13px system-ui, "DejaVu Sans", sans-serif';
		c.fillText('no samples yet: the instance is not running', L + pw / 2,
		    T + ph / 2);
	}

	if (st.hoverT !== null && st.hoverT >= t0 && st.hoverT <= t1) {
		const xx = Math.round(x(st.hoverT)) + 0.5;

		c.strokeStyle = '#1b2230';
		c.lineWidth = 1;
		c.beginPath();
		c.moveTo(xx, T);
		c.lineTo(xx, T + ph);
		c.stroke();
	}
}

function legend(id, title, series, s, atLabel) {
	patch(id, h('span', { class: 'ttl' }, title), series.map((se) =>
	    h('span', { 'data-series': se.key }, h('span', { class: 'sw' +
		(se.dash ? ' dash' : ''), style: se.dash ? null :
		'background:' + (se.noLine ? se.fill : se.color) }), se.label, ' ',
		h('b', null, s ? s[se.key] || 0 : '—'))),
	    h('span', { class: 'at' }, atLabel));
}

/* The chart's time span: the chosen minutes up to the newest sample, or
 * less while the history is shorter (at least one minute). */
function chartRange() {
	const s = st.history;
	const t1 = s.length ? s[s.length - 1].t_ms : Date.now();
	const first = s.length ? s[0].t_ms : t1;

	return [Math.max(t1 - st.chartMin * 60000, Math.min(first, t1 - 60000)),
	    t1];
}

function drawCharts() {
	const cw = document.getElementById('chart-w');
	const ct = document.getElementById('chart-t');
	const inst = findInstance(st.route.name);

	if (!cw || !ct)
		return;
	const samples = st.history;
	const [t0, t1] = chartRange();
	const hover = st.hoverT !== null ? sampleAt(samples, st.hoverT) : null;
	const s = hover || (samples.length ? samples[samples.length - 1] : null);
	const at = hover ? 'at ' + fmtTime(hover.t_ms) : samples.length ?
	    'now' : '';
	const lines = inst ? [{ v: inst.max, label: 'max ' + inst.max },
	    { v: inst.min, label: 'min ' + inst.min }] : [];

	if (inst && inst.min === inst.max)
		lines.splice(1, 1);
	patch('chart-seg', [5, 15].map((m) => h('button', { type: 'button',
	    class: m === st.chartMin ? 'on' : null, 'data-act': 'window',
	    'data-min': m, title: 'the last ' + m + ' minutes (the daemon ' +
	    'keeps 15)' }, m + ' min')));
	legend('legend-w', 'Workers', WORKER_SERIES, s, at);
	legend('legend-t', 'Tasks', TASK_SERIES, s, '');
	drawChart(cw, samples, WORKER_SERIES, t0, t1, { lines });
	drawChart(ct, samples, TASK_SERIES, t0, t1, {});
}

function onChartMove(ev) {
	const cv = ev.target;

	if (!cv.classList || !cv.classList.contains('chart'))
		return;
	const r = cv.getBoundingClientRect();
	const px = ev.clientX - r.left, L = 34, R = 44;
	const [t0, t1] = chartRange();
	const f = (px - L) / (r.width - L - R);

	st.hoverT = f < 0 || f > 1 ? null : t0 + f * (t1 - t0);
	drawCharts();
}

/* --------------------------------------------------------------- polling */

let pollTimer = null;
let polling = false;

async function poll() {
	if (polling)
		return;
	polling = true;
	clearTimeout(pollTimer);
	try {
		const route = st.route;
		const want = [api('GET', '/v1/instances'), api('GET', '/v1/pool')];

		if (route.page === 'instance')
			want.push(api('GET', '/v1/instances/' + route.name +
			    '/history?since_ms=' + st.historyT).catch((e) => {
				if (e.status === 404)
					return null;
				throw e;
			}));
		const [insts, pool, hist] = await Promise.all(want);

		st.instances = insts.instances;
		st.pool = pool;
		if (hist && st.historyOf === hist.name)
			addHistory(hist.samples);
		st.lastOk = Date.now();
		st.pollError = null;
	} catch (e) {
		st.pollError = e.message;
		if (e.status === 401 && !st.tokenAsked) {
			st.tokenAsked = true;
			askToken('This daemon listens beyond loopback, so reading ' +
			    'needs the token too.');
		}
	} finally {
		polling = false;
		render();
		pollTimer = setTimeout(poll, POLL_MS);
	}
}

function addHistory(samples) {
	if (!samples.length)
		return;
	const h0 = st.history;
	const lastT = h0.length ? h0[h0.length - 1].t_ms : 0;

	for (const s of samples)
		if (s.t_ms > lastT)
			h0.push(s);
	st.historyT = h0[h0.length - 1].t_ms;
	const cut = st.historyT - HISTORY_MS;
	let i = 0;

	while (i < h0.length && h0[i].t_ms < cut)
		i++;
	if (i)
		h0.splice(0, i);
}

function addEvents(evs) {
	for (const e of evs)
		st.events.set(e.seq, e);
	if (st.events.size > EVENTS_KEPT) {
		const seqs = Array.from(st.events.keys()).sort((a, b) => a - b);

		for (const s of seqs.slice(0, seqs.length - EVENTS_KEPT))
			st.events.delete(s);
	}
}

/* The newest events of the routed instance, which the global page may
 * not reach back to. */
async function backfillEvents() {
	const r = st.route;

	if (r.page !== 'instance' || st.backfilled.has(r.name))
		return;
	try {
		const d = await api('GET', '/v1/events?instance=' + r.name +
		    '&limit=200');

		st.backfilled.add(r.name);
		addEvents(d.events);
		render();
	} catch (e) {
		/* the instance may not exist (yet); the long-poll goes on */
	}
}

function sleep(ms) {
	return new Promise((res) => setTimeout(res, ms));
}

/* Reads the newest events, then waits for more with the long-poll. */
async function eventsLoop() {
	for (;;) {
		try {
			if (!st.eventsLoaded) {
				const d = await api('GET', '/v1/events?limit=300');

				addEvents(d.events);
				st.lastSeq = d.last_seq;
				st.eventsLoaded = true;
				render();
			}
			const d = await api('GET', '/v1/events?since=' + st.lastSeq +
			    '&wait=' + EVENTS_WAIT_S, undefined,
			    (EVENTS_WAIT_S + 10) * 1000);

			if (d.last_seq < st.lastSeq) {
				/* another daemon (a new state folder): start over */
				st.events.clear();
				st.backfilled.clear();
				st.eventsLoaded = false;
				continue;
			}
			if (d.events.length) {
				addEvents(d.events);
				st.lastSeq = d.events[d.events.length - 1].seq;
				render();
			}
		} catch (e) {
			await sleep(2000);
		}
	}
}

/* --------------------------------------------------------------- actions */

function toast(title, text, bad) {
	const box = document.getElementById('toasts');
	const el = h('div', { class: 'toast' + (bad ? ' bad' : ''),
	    role: bad ? 'alert' : 'status' },
	    h('div', { class: 'tt' }, title), text ? h('div', null, text) : null,
	    h('button', { type: 'button', class: 'x', 'data-act': 'toast-close',
		'aria-label': 'close' }, '×'));

	box.appendChild(el);
	setTimeout(() => el.remove(), bad ? 15000 : 4000);
}

/* The dialogs that wait for an answer: id -> resolve function. */
const waiting = new Map();

function openDialog(id) {
	const d = document.getElementById(id);

	if (!d.open)
		d.showModal();
	return new Promise((res) => {
		const old = waiting.get(id);

		if (old)
			old(false);
		waiting.set(id, res);
	});
}

function closeDialog(id, result) {
	const d = document.getElementById(id);
	const res = waiting.get(id);

	if (d.open)
		d.close();
	waiting.delete(id);
	if (res)
		res(result);
}

/* Asks for the token; resolves true once one is given, false on cancel. */
function askToken(why) {
	const err = document.getElementById('token-error');
	const input = document.getElementById('token-input');
	const p = openDialog('dlg-token');

	err.hidden = !why;
	err.textContent = why || '';
	input.value = '';
	document.getElementById('token-forget').hidden = !token();
	input.focus();
	return p;
}

const NO_TOKEN = 'this needs the API token, and none was given';

/* Sends a change with the token, asking for it when there is none or it
 * was refused; returns the reply, or throws ApiError. */
async function mutate(method, path, body) {
	for (;;) {
		if (!token() && !(await askToken(null)))
			throw new ApiError(401, NO_TOKEN);
		try {
			return await api(method, path, body);
		} catch (e) {
			if (e.status !== 401)
				throw e;
			sessionStorage.removeItem(TOKEN_KEY);
			render();
			if (!(await askToken('The daemon refused that token: ' +
			    e.message)))
				throw e;
		}
	}
}

function errText(e) {
	return (e.status ? e.status + ': ' : '') + e.message;
}

/* Runs one action on an instance; a toast says how it went. */
async function act(name, action, label, fn) {
	const key = name + ':' + action;

	st.busy.add(key);
	render();
	try {
		await fn();
		toast(label + ' ' + name, 'accepted; the page follows the change.');
		return null;
	} catch (e) {
		toast(label + ' ' + name + ' failed', errText(e), true);
		return e;
	} finally {
		st.busy.delete(key);
		poll();
	}
}

function confirmStop(inst) {
	const p = openDialog('dlg-confirm');

	document.getElementById('confirm-title').textContent = 'Stop ' +
	    inst.name + '?';
	document.getElementById('confirm-text').textContent = 'Its scheduler ' +
	    'and its ' + plural((inst.workers || []).length, 'worker') +
	    ' end. Work in progress and data held in the cluster\'s memory ' +
	    'are lost; clients connected to it lose their connection.';
	document.getElementById('confirm-ok').textContent = 'Stop ' + inst.name;
	return p;
}

function openScale(inst) {
	document.getElementById('scale-name').textContent = inst.name;
	document.getElementById('scale-min').value = inst.min;
	document.getElementById('scale-max').value = inst.max;
	document.getElementById('scale-error').hidden = true;
	document.getElementById('form-scale').dataset.name = inst.name;
	openDialog('dlg-scale');
	document.getElementById('scale-min').focus();
}

/* The scale dialog stays open until the daemon took the change, and
 * shows its refusal in place. */
async function submitScale() {
	const name = document.getElementById('form-scale').dataset.name;
	const err = document.getElementById('scale-error');
	const btn = document.getElementById('scale-submit');
	const min = Number(document.getElementById('scale-min').value);
	const max = Number(document.getElementById('scale-max').value);

	btn.disabled = true;
	err.hidden = true;
	const e = await act(name, 'scale', 'Min ' + min + ', max ' + max +
	    ' for', () => mutate('PATCH', '/v1/instances/' + name,
	    { min, max }));
	btn.disabled = false;
	if (e === null) {
		closeDialog('dlg-scale', true);
	} else {
		err.textContent = errText(e);
		err.hidden = false;
	}
}

async function copyText(value) {
	try {
		await navigator.clipboard.writeText(value);
	} catch (e) {
		/* not a secure context (plain http beyond loopback) */
		const ta = h('textarea', { style: 'position:fixed;opacity:0' });

		ta.value = value;
		document.body.appendChild(ta);
		ta.select();
		document.execCommand('copy');
		ta.remove();
	}
	st.copied = { value, until: Date.now() + 1500 };
	render();
	setTimeout(render, 1600);
}

document.addEventListener('click', (ev) => {
	const a = ev.target.closest('a[href]');

	if (a && a.origin === location.origin && !ev.ctrlKey && !ev.metaKey &&
	    !ev.shiftKey && ev.button === 0 &&
	    parseRoute(a.pathname).page !== 'missing') {
		ev.preventDefault();
		go(a.pathname);
		return;
	}
	const b = ev.target.closest('[data-act]');
	if (!b || b.disabled)
		return;
	const name = b.getAttribute('data-name');
	const inst = name ? findInstance(name) : null;

	switch (b.getAttribute('data-act')) {
	case 'copy':
		copyText(b.getAttribute('data-value'));
		break;
	case 'start':
		act(name, 'start', 'Start', () => mutate('POST',
		    '/v1/instances/' + name + '/start'));
		break;
	case 'stop':
		if (inst)
			confirmStop(inst).then((yes) => {
				if (yes)
					act(name, 'stop', 'Stop', () => mutate('POST',
					    '/v1/instances/' + name + '/stop'));
			});
		break;
	case 'scale':
		if (inst)
			openScale(inst);
		break;
	case 'token':
		askToken(null).then(() => render());
		break;
	case 'token-forget':
		sessionStorage.removeItem(TOKEN_KEY);
		closeDialog('dlg-token', false);
		render();
		toast('Token forgotten', 'Actions will ask for it again.');
		break;
	case 'dlg-cancel':
		closeDialog(b.closest('dialog').id, false);
		break;
	case 'toast-close':
		b.parentNode.remove();
		break;
	case 'window':
		st.chartMin = Number(b.getAttribute('data-min'));
		drawCharts();
		break;
	}
});

document.getElementById('form-token').addEventListener('submit', (ev) => {
	const v = document.getElementById('token-input').value.trim();

	ev.preventDefault();
	if (!v)
		return;
	sessionStorage.setItem(TOKEN_KEY, v);
	st.tokenAsked = false;
	closeDialog('dlg-token', true);
	render();
	poll();
});
document.getElementById('form-confirm').addEventListener('submit', (ev) => {
	ev.preventDefault();
	closeDialog('dlg-confirm', true);
});
document.getElementById('form-scale').addEventListener('submit', (ev) => {
	ev.preventDefault();
	submitScale();
});
for (const d of document.querySelectorAll('dialog'))
	d.addEventListener('cancel', () => closeDialog(d.id, false));
document.addEventListener('mousemove', onChartMove);
document.addEventListener('mouseout', (ev) => {
	if (ev.target.classList && ev.target.classList.contains('chart')) {
		st.hoverT = null;
		drawCharts();
	}
});
window.addEventListener('popstate', setRoute);
window.addEventListener('resize', () => drawCharts());
setInterval(renderTop, 1000);

setRoute();
eventsLoop();
