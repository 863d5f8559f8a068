// Table chat: {"type":"chat","name","text"} publications in the table's room,
// so chat shares the room's order and recovery with the game.

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const NAMES = ['Ace', 'Lucky', 'Vega', 'Rio', 'Nova', 'Jade', 'Kit', 'Max', 'Sky', 'Zed'];

export function createChat({ client, room, hook, name }) {
  const me = (name || `${NAMES[Math.floor(Math.random() * NAMES.length)]}${Math.floor(Math.random() * 90 + 10)}`).slice(0, 24);
  const form = $('say');
  const input = $('say-text');

  async function say(text) {
    text = String(text).trim().slice(0, 200);
    if (!text) return null;
    return client.publish(room, { type: 'chat', name: me, text });
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value;
    input.value = '';
    say(text).catch((err) => hook.errors.push(`chat: ${err.message || err}`));
  });

  return {
    say,
    onMessage(pub) {
      const d = pub.data;
      hook.chat.push({ offset: pub.offset, name: d.name, text: d.text });
      if (hook.chat.length > 200) hook.chat.shift();
      const li = document.createElement('li');
      const time = new Date(pub.ts / 1000).toTimeString().slice(0, 5);
      li.className = d.name === me ? 'mine' : '';
      li.innerHTML = `<span class="who">${esc(d.name || 'guest')}</span><span class="text">${esc(d.text)}</span><span class="when">${time}</span>`;
      const ul = $('messages');
      ul.append(li);
      while (ul.children.length > 80) ul.firstChild.remove();
      ul.scrollTop = ul.scrollHeight;
    },
  };
}
