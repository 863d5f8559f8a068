// The table's round: the betting window (window_open), its countdown on the
// synced clock, bets judged by the server (act), the result revealed with its
// video frame (MediaPlayer.reveal), the settlement (window_summary), and the
// player's play-money balance.

const $ = (id) => document.getElementById(id);
const PAYOUT = { red: 2, black: 2, green: 36 }; // returned per unit staked, stake included
const REASONS = {
  late: 'late: stamped after the close',
  early: 'early: stamped before the window opened',
  implausible: 'implausible: the stamp does not fit your network delay',
  not_permitted: 'not permitted at this table',
  unknown_window: 'no such round',
  no_round: 'no round is open',
  disconnected: 'not connected',
};

export function createTable({ client, room, player, hls, hook }) {
  let current = null; // {window, opens_at, closes_at, bets: []}
  let historyTop = { epoch: null, offset: 0 };
  let seats = 0;
  let chip = 10;
  let balance = 1000;
  const rounds = new Map(); // window -> {bets}
  const historyChips = [];
  let bannerTimer = null;
  let lastPhase = '';

  $('table-name').textContent = `Roulette · ${room}`;
  for (const b of document.querySelectorAll('[data-chip]')) {
    b.addEventListener('click', () => {
      chip = Number(b.dataset.chip);
      document.querySelectorAll('[data-chip]').forEach((x) => x.classList.toggle('selected', x === b));
    });
  }
  for (const b of document.querySelectorAll('[data-bet]')) {
    b.addEventListener('click', () => bet(b.dataset.bet, chip));
  }

  function banner(text, cls, ms = 1600) {
    const el = $('banner');
    el.textContent = text;
    el.className = `banner show ${cls || ''}`;
    clearTimeout(bannerTimer);
    bannerTimer = setTimeout(() => { el.className = 'banner'; }, ms);
  }

  function showBalance() { $('balance').textContent = balance.toLocaleString('en'); }

  function addDecisionLine(text, cls) {
    const li = document.createElement('li');
    li.className = cls;
    li.innerHTML = text;
    const ul = $('decisions');
    ul.prepend(li);
    while (ul.children.length > 6) ul.lastChild.remove();
  }

  const colorName = (c) => (c === 'green' ? '0' : c[0].toUpperCase() + c.slice(1));

  async function bet(color, amount = chip) {
    const clickedUs = client.serverNow().timeUs;
    const w = current;
    let d;
    if (!w) {
      d = { accepted: false, reason: 'no_round', window: null };
    } else if (client.state() !== 'connected') {
      d = { accepted: false, reason: 'disconnected', window: w.window };
    } else {
      try {
        d = await client.act(room, w.window, { bet: color, amount });
      } catch (e) {
        d = { accepted: false, reason: `error ${e.code || ''} ${e.message || e}`.trim(), window: w.window };
      }
    }
    const rec = {
      window: w ? w.window : null, color, amount, accepted: !!d.accepted, reason: d.reason || '', duplicate: !!d.duplicate,
      stampUs: d.stamp ?? null, receivedUs: d.received ?? null, clickedServerUs: clickedUs, closesAt: w ? w.closes_at : null,
      shownWallMs: Date.now(),
    };
    hook.decisions.push(rec);
    hook.lastDecision = rec;
    const what = `${colorName(color)} · ${amount}`;
    if (rec.accepted) {
      balance -= amount;
      showBalance();
      rounds.get(w.window)?.bets.push({ color, amount });
      const before = w.closes_at - (d.stamp ?? clickedUs);
      addDecisionLine(`<b>Accepted</b> ${what} <span class="muted">${(before / 1000).toFixed(0)} ms before the close</span>`, 'ok');
    } else {
      const after = w && d.stamp ? d.stamp - w.closes_at : null;
      const extra = rec.reason === 'late' && after != null && after > 0 ? ` (${(after / 1000).toFixed(0)} ms after)` : '';
      addDecisionLine(`<b>Refused</b> ${what} <span class="reason">${REASONS[rec.reason] || rec.reason}${extra}</span>`, 'bad');
    }
    return rec;
  }

  function onWindowOpen(pub, d, live) {
    const w = { window: d.window, opens_at: d.opens_at, closes_at: d.closes_at, offset: pub.offset };
    rounds.set(d.window, { bets: [] });
    current = w;
    hook.window = { window: w.window, opens_at: w.opens_at, closes_at: w.closes_at, settled: false };
    $('round').textContent = w.window.replace('round-', 'Round ');
    if (live) banner('Place your bets', 'open');
  }

  function onResult(pub, d, live) {
    const arrivedWallMs = performance.timeOrigin + performance.now();
    const show = (info) => {
      const shownWallMs = performance.timeOrigin + performance.now();
      addHistory(d);
      if (!live) return;
      hook.results.push({
        round: d.round, number: d.number, color: d.color, offset: pub.offset, mediaTsUs: pub.mediaTsUs ?? null,
        arrivedWallMs, shownWallMs, frameCaptureUs: info ? info.frameCaptureUs : null, offFrameUs: info ? info.offFrameUs : null,
        serverNowUs: info ? info.serverNowUs : client.serverNow().timeUs,
      });
      const el = $('reveal');
      $('reveal-num').textContent = d.number;
      $('reveal-num').className = `reveal-num ${d.color}`;
      const r = rounds.get(d.round);
      let won = 0;
      for (const b of r ? r.bets : []) if (b.color === d.color) won += b.amount * PAYOUT[b.color];
      if (won) {
        balance += won;
        showBalance();
      }
      $('reveal-text').textContent = won ? `You win ${won}` : `${d.color[0].toUpperCase() + d.color.slice(1)} ${d.number}`;
      el.className = `reveal show ${won ? 'won' : ''}`;
      setTimeout(() => { el.className = 'reveal'; }, 4500);
    };
    if (!live || pub.mediaTsUs == null) {
      show(null);
      return;
    }
    // Revealed with the frame that carries it (the player allows for program
    // date time's millisecond rounding: within half a frame is that frame).
    player.reveal(pub, (_item, info) => show(info));
  }

  function addHistory(d) {
    historyChips.unshift(d);
    historyChips.length = Math.min(historyChips.length, 14);
    $('history').innerHTML = historyChips.map((x, i) => `<span class="hchip ${x.color}${i === 0 ? ' newest' : ''}">${x.number}</span>`).join('');
  }

  function onSummary(pub, d, live) {
    if (hook.window && hook.window.window === d.window) hook.window.settled = true;
    hook.summaries = (hook.summaries || []).concat([{ window: d.window, accepted: d.accepted, refused: d.refused }]).slice(-20);
    if (!live) return;
    const refused = Object.entries(d.refused || {}).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(', ');
    addDecisionLine(`<span class="muted">${d.window.replace('round-', 'Round ')} settled: ${d.accepted} accepted${refused ? `, refused ${refused}` : ''}</span>`, 'info');
  }

  // The countdown and the phase on the synced clock, ten times a second
  // (the DOM is written only when something changed: the page shares the CPU
  // with the video decoder).
  const shown = {};
  const put = (key, value, write) => {
    if (shown[key] !== value) {
      shown[key] = value;
      write(value);
    }
  };
  const ring = 2 * Math.PI * 44;
  $('arc').style.strokeDasharray = `${ring}`;
  function frame() {
    const now = client.serverNow();
    const w = current;
    let phase = 'Waiting for the next round';
    let small = 'waiting';
    let secs = '–';
    let frac = 0;
    let cls = 'idle';
    if (w && now.synced) {
      const left = w.closes_at - now.timeUs;
      if (left > 0) {
        phase = 'Place your bets';
        small = 'bets open';
        secs = String(Math.ceil(left / 1e6));
        frac = Math.min(1, left / Math.max(1, w.closes_at - w.opens_at));
        cls = left < 3e6 ? 'hurry' : 'open';
      } else {
        phase = 'No more bets';
        small = 'closed';
        secs = '0';
        cls = 'closed';
      }
    }
    if (phase !== lastPhase && lastPhase === 'Place your bets' && phase === 'No more bets') banner('No more bets', 'closed');
    lastPhase = phase;
    put('phase', phase, (v) => { $('phase').textContent = v; });
    put('small', small, (v) => { $('phase-small').textContent = v; });
    put('secs', secs, (v) => { $('secs').textContent = v; });
    put('cls', cls, (v) => { $('countdown').className = `countdown ${v}`; document.body.dataset.phase = v; });
    put('arc', (ring * (1 - frac)).toFixed(1), (v) => { $('arc').style.strokeDashoffset = v; });
  }
  setInterval(frame, 100);
  frame();
  showBalance();

  return {
    bet,
    // Publications at or below this position were published before this
    // viewer joined: shown as history, never revealed as new.
    historyUntil(epoch, offset) { historyTop = { epoch, offset }; },
    onPublication(pub) {
      const d = pub.data;
      const live = !(pub.epoch === historyTop.epoch && pub.offset <= historyTop.offset);
      if (d.type === 'window_open') onWindowOpen(pub, d, live);
      else if (d.type === 'result') onResult(pub, d, live);
      else if (d.type === 'window_summary') onSummary(pub, d, live);
    },
    seats(delta, absolute) {
      seats = absolute != null ? absolute : Math.max(0, seats + delta);
      $('seats').textContent = `${seats} at the table`;
    },
  };
}
