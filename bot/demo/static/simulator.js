/* The chat simulator: plays WeChat's servers in the browser against the demo bot's /wechat.
 *
 * Every message is built as WeChat's XML (CDATA-escaped), signed like WeChat signs it
 * (SHA-1 over the sorted token, timestamp and nonce) and posted to the real endpoint; the
 * XML reply is parsed and shown. Pushed messages (customer-service and template messages)
 * are polled from the fake WeChat through /simulator/pushed. All text goes into the page
 * through textContent, never as HTML.
 */
(() => {
  "use strict";

  const config = JSON.parse(document.getElementById("simulator-config").textContent);
  const $ = (id) => document.getElementById(id);
  const chat = $("chat");
  const TIME_GAP_SECONDS = 180;
  const POLL_MS = 1000;

  /** openid -> {persona, entries, since, lastEventTime, lastShownTime} */
  const conversations = new Map();
  let persona = null;
  let sendQueue = Promise.resolve();
  let msgSerial = 0;

  // ---------------------------------------------------------------- WeChat's side of the protocol

  /** SHA-1 in plain JS, for pages opened over plain http on a LAN address (no crypto.subtle there). */
  function sha1Fallback(bytes) {
    const length = ((bytes.length + 9 + 63) >> 6) << 6;
    const buffer = new Uint8Array(length);
    buffer.set(bytes);
    buffer[bytes.length] = 0x80;
    const view = new DataView(buffer.buffer);
    const bits = bytes.length * 8;
    view.setUint32(length - 8, Math.floor(bits / 2 ** 32));
    view.setUint32(length - 4, bits >>> 0);
    const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
    const w = new Uint32Array(80);
    for (let offset = 0; offset < length; offset += 64) {
      for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + i * 4);
      for (let i = 16; i < 80; i++) {
        const x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
        w[i] = (x << 1) | (x >>> 31);
      }
      let [a, b, c, d, e] = h;
      for (let i = 0; i < 80; i++) {
        let f;
        let k;
        if (i < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
        else if (i < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
        else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc; }
        else { f = b ^ c ^ d; k = 0xca62c1d6; }
        const t = (((a << 5) | (a >>> 27)) + f + e + k + w[i]) >>> 0;
        e = d; d = c; c = ((b << 30) | (b >>> 2)) >>> 0; b = a; a = t;
      }
      h[0] = (h[0] + a) >>> 0; h[1] = (h[1] + b) >>> 0; h[2] = (h[2] + c) >>> 0;
      h[3] = (h[3] + d) >>> 0; h[4] = (h[4] + e) >>> 0;
    }
    return h.map((word) => word.toString(16).padStart(8, "0")).join("");
  }

  async function sha1Hex(text) {
    const bytes = new TextEncoder().encode(text);
    if (!window.crypto || !window.crypto.subtle) return sha1Fallback(bytes);
    const digest = await window.crypto.subtle.digest("SHA-1", bytes);
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function randomHex(bytes) {
    const values = new Uint8Array(bytes);
    window.crypto.getRandomValues(values);
    return Array.from(values, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** A CDATA section holding any text: "]]>" inside it is split across two sections. */
  function cdata(value) {
    return "<![CDATA[" + String(value).split("]]>").join("]]]]><![CDATA[>") + "]]>";
  }

  /** A MsgId unique across tabs and reloads: milliseconds, a per-page serial, randomness. */
  function nextMsgId() {
    msgSerial = (msgSerial + 1) % 1000;
    const random = window.crypto.getRandomValues(new Uint16Array(1))[0] % 1000;
    return String(Date.now()) + String(msgSerial).padStart(3, "0") + String(random).padStart(3, "0");
  }

  function nowSeconds() {
    return Math.floor(Date.now() / 1000);
  }

  /** WeChat's message XML. Events carry no MsgId; WeChat tells their retries apart by CreateTime. */
  function messageXml(conversation, msgType, fields) {
    const isEvent = msgType === "event";
    let created = nowSeconds();
    if (isEvent) {  // two taps in one second must not look like a retry of one event
      created = Math.max(created, conversation.lastEventTime + 1);
      conversation.lastEventTime = created;
    }
    const parts = [
      "<ToUserName>" + cdata(config.account) + "</ToUserName>",
      "<FromUserName>" + cdata(conversation.persona.openid) + "</FromUserName>",
      "<CreateTime>" + created + "</CreateTime>",
      "<MsgType>" + cdata(msgType) + "</MsgType>",
    ];
    for (const [name, value] of Object.entries(fields)) parts.push(`<${name}>${cdata(value)}</${name}>`);
    if (!isEvent) parts.push("<MsgId>" + nextMsgId() + "</MsgId>");
    return "<xml>" + parts.join("") + "</xml>";
  }

  function childText(root, name) {
    const node = Array.from(root.children).find((child) => child.tagName === name);
    return node ? node.textContent : "";
  }

  /** The bot's passive reply: null for "success" (nothing to show), else {type, content, articles}. */
  function parseReply(body) {
    const text = body.trim();
    if (text === "" || text === "success") return null;
    const doc = new DOMParser().parseFromString(text, "application/xml");
    if (doc.getElementsByTagName("parsererror").length) throw new Error("回复不是有效的 XML");
    const root = doc.documentElement;
    const type = childText(root, "MsgType");
    const articles = Array.from(root.getElementsByTagName("item"), (item) => ({
      title: childText(item, "Title"),
      description: childText(item, "Description"),
    }));
    return { type, content: childText(root, "Content"), articles };
  }

  /** POST one message to /wechat, signed with the demo token, as WeChat's servers would. */
  async function deliver(conversation, msgType, fields) {
    const xml = messageXml(conversation, msgType, fields);
    const timestamp = String(nowSeconds());
    const nonce = randomHex(8);
    const signature = await sha1Hex([config.token, timestamp, nonce].sort().join(""));
    const query = new URLSearchParams({ signature, timestamp, nonce, openid: conversation.persona.openid });
    const response = await fetch(`${config.endpoint}?${query}`, {
      method: "POST",
      headers: { "Content-Type": "text/xml; charset=utf-8" },
      body: xml,
    });
    const body = await response.text();
    if (!response.ok) throw new Error(`HTTP ${response.status} ${body.slice(0, 80)}`);
    return parseReply(body);
  }

  /** Messages go out one after another, as a phone sends them; replies come back in order. */
  function send(msgType, fields, shownAs) {
    const conversation = current();
    if (!conversation) return;
    if (shownAs) addEntry(conversation, shownAs);
    sendQueue = sendQueue.then(async () => {
      try {
        showReply(conversation, await deliver(conversation, msgType, fields));
      } catch (error) {
        addEntry(conversation, { who: "note", error: true, text: `发送失败：${error.message}` });
      }
    });
  }

  function showReply(conversation, reply) {
    if (!reply) return;
    if (reply.type === "text") {
      addEntry(conversation, { who: "bot", kind: "text", text: reply.content });
    } else if (reply.type === "transfer_customer_service") {
      addEntry(conversation, { who: "note", text: "已转接人工客服，请稍候" });
    } else if (reply.type === "news" && reply.articles.length) {
      for (const article of reply.articles) {
        addEntry(conversation, { who: "bot", kind: "text", text: `${article.title}\n${article.description}` });
      }
    } else {
      addEntry(conversation, { who: "note", text: `收到 ${reply.type} 类型的回复` });
    }
  }

  // ---------------------------------------------------------------- pushed messages

  let polling = false;

  async function poll() {
    const conversation = current();
    if (!conversation || polling) return;
    polling = true;
    try {
      const query = new URLSearchParams({ openid: conversation.persona.openid, since: conversation.since });
      const response = await fetch(`${config.pushed}?${query}`);
      if (!response.ok) return;
      for (const message of await response.json()) {
        conversation.since = Math.max(conversation.since, message.index + 1);
        addEntry(conversation, pushedEntry(message));
      }
    } catch (error) {
      // the demo is restarting or gone; the next poll tries again
    } finally {
      polling = false;
    }
  }

  function pushedEntry(message) {
    const time = Math.floor(message.time);
    const payload = message.payload || {};
    if (message.kind === "text") return { who: "bot", kind: "text", text: payload.text.content, time };
    if (message.kind === "template") return { who: "bot", kind: "card", template: payload, time };
    return { who: "note", text: `收到一条 ${message.kind} 消息`, time };
  }

  // ---------------------------------------------------------------- conversation view

  function current() {
    return persona ? conversations.get(persona.openid) : null;
  }

  function addEntry(conversation, entry) {
    entry.time = entry.time || nowSeconds();
    conversation.entries.push(entry);
    if (conversation === current()) {
      chat.append(...renderEntry(conversation, entry));
      chat.scrollTop = chat.scrollHeight;
    }
  }

  function showConversation(conversation) {
    chat.replaceChildren();
    conversation.lastShownTime = 0;
    for (const entry of conversation.entries) chat.append(...renderEntry(conversation, entry));
    chat.scrollTop = chat.scrollHeight;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const timeFormat = new Intl.DateTimeFormat("zh-CN", {
    timeZone: config.timezone, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });

  /** HH:MM in the dealer's time zone, whatever the browser's is. */
  function clock(seconds) {
    return timeFormat.format(new Date(seconds * 1000));
  }

  function renderEntry(conversation, entry) {
    const nodes = [];
    if (entry.who !== "note" && entry.time - conversation.lastShownTime > TIME_GAP_SECONDS) {
      nodes.push(el("div", "time", clock(entry.time)));
      conversation.lastShownTime = entry.time;
    }
    if (entry.who === "note") {
      const note = el("div", entry.error ? "note error" : "note");
      note.append(el("span", "", entry.text));
      nodes.push(note);
      return nodes;
    }
    const row = el("div", `row ${entry.who}`);
    const avatar = el("div", "avatar", entry.who === "bot" ? "售" : conversation.persona.name.slice(0, 1));
    avatar.setAttribute("aria-hidden", "true");
    row.append(avatar, renderBubble(entry));
    nodes.push(row);
    return nodes;
  }

  function renderBubble(entry) {
    if (entry.kind === "location") {
      const bubble = el("div", "bubble location");
      const place = el("div", "place");
      place.append(el("strong", "", entry.place.name), el("small", "", entry.place.label));
      const map = el("div", "map");
      map.append(pinIcon());
      bubble.append(place, map);
      return bubble;
    }
    if (entry.kind === "card") return renderCard(entry);
    return el("div", "bubble", entry.text);
  }

  function pinIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M12 21s-6-5.3-6-10a6 6 0 0 1 12 0c0 4.7-6 10-6 10z");
    svg.append(path);
    return svg;
  }

  /** A template message as WeChat draws a service notice: title, fields, remark. */
  function renderCard(entry) {
    const data = entry.template.data || {};
    const value = (name) => (data[name] && data[name].value) || "";
    const card = el("div", "bubble card");
    const head = el("div", "card-head", value("first") || "服务通知");
    head.append(el("span", "tag", "模板消息"));
    card.append(head, el("div", "card-time", clock(entry.time)));
    const fields = el("dl");
    for (const [name, item] of Object.entries(data)) {
      if (name === "first" || name === "remark") continue;
      const line = el("div");
      line.append(el("dt", "", name), el("dd", "", (item && item.value) || ""));
      fields.append(line);
    }
    card.append(fields);
    if (value("remark")) card.append(el("div", "card-remark", value("remark")));
    card.append(el("div", "card-foot", entry.template.url ? "详情" : `模板 ${entry.template.template_id}`));
    return card;
  }

  // ---------------------------------------------------------------- who the user plays

  function choosePersona(chosen, firstEvent) {
    if (!conversations.has(chosen.openid)) {
      conversations.set(chosen.openid, {
        persona: chosen, entries: [], since: 0, lastEventTime: 0, lastShownTime: 0,
      });
    }
    persona = chosen;
    $("persona-label").textContent = chosen.label;
    const conversation = current();
    if (!conversation.entries.length) addEntry(conversation, { who: "note", text: chosen.intro });
    showConversation(conversation);
    if (firstEvent) send("event", firstEvent, null);
    poll();
  }

  function demoCustomer(customer) {
    return {
      openid: customer.openid,
      name: customer.name,
      label: `${customer.name} · ${customer.plates[0]}`,
      intro: `你现在是 ${customer.name}：手机号 ${customer.phone}，车牌 ${customer.plates.join("、")}`,
    };
  }

  function newFollower(advisor) {
    return {
      openid: `demo-new-${randomHex(6)}`,
      name: "新",
      label: "新关注者",
      intro: advisor ? `你扫描了 ${advisor.name}（${advisor.store}）的二维码并关注` : "你搜索并关注了服务号",
    };
  }

  function openPersonaSheet() {
    const items = config.customers.map((customer) => ({
      title: customer.name,
      detail: `${customer.phone} · ${customer.plates.join("、")} · ${customer.store}`,
      action: () => choosePersona(demoCustomer(customer), null),
    }));
    items.push({
      title: "新关注者（搜索关注）",
      detail: "新的 openid，没有绑定车辆",
      action: () => choosePersona(newFollower(null), { Event: "subscribe" }),
    });
    for (const advisor of config.advisors) {
      items.push({
        title: `新关注者（扫 ${advisor.name} 的二维码）`,
        detail: `${advisor.store} 服务顾问的专属二维码`,
        action: () => choosePersona(newFollower(advisor), { Event: "subscribe", EventKey: `qrscene_${advisor.scene}` }),
      });
    }
    openSheet("选择要扮演的客户", items, persona !== null);
  }

  function openMoreSheet() {
    if (!persona) return openPersonaSheet();
    openSheet(persona.label, [
      { title: "关注服务号", detail: "发送 subscribe 事件", action: () => follow() },
      { title: "不再关注", detail: "发送 unsubscribe 事件", danger: true, action: () => unfollow() },
      { title: "切换客户", action: openPersonaSheet },
    ], true);
  }

  function follow() {
    addEntry(current(), { who: "note", text: "你关注了服务号" });
    send("event", { Event: "subscribe" }, null);
  }

  function unfollow() {
    addEntry(current(), { who: "note", text: "你已不再关注服务号" });
    send("event", { Event: "unsubscribe" }, null);
  }

  function openLocationSheet() {
    openSheet("发送位置", config.places.map((place) => ({
      title: place.name,
      detail: place.hint ? `${place.label}（${place.hint}）` : place.label,
      action: () => send(
        "location",
        { Location_X: place.latitude, Location_Y: place.longitude, Scale: 15, Label: place.label },
        { who: "me", kind: "location", place },
      ),
    })), true);
  }

  // ---------------------------------------------------------------- sheet, menu, input

  function openSheet(title, items, cancellable) {
    $("sheet-title").textContent = title;
    const list = $("sheet-items");
    list.replaceChildren();
    for (const item of items) {
      const button = el("button", item.danger ? "sheet-item danger" : "sheet-item");
      button.type = "button";
      button.append(el("strong", "", item.title));
      if (item.detail) button.append(el("small", "", item.detail));
      button.addEventListener("click", () => {
        closeSheet();
        item.action();
      });
      list.append(button);
    }
    $("sheet-cancel").hidden = !cancellable;
    $("sheet").hidden = false;
  }

  function closeSheet() {
    $("sheet").hidden = true;
  }

  function closeSubmenus(except) {
    for (const item of document.querySelectorAll(".menu-item")) {
      if (item === except) continue;
      const sub = item.querySelector(".submenu");
      if (sub) sub.hidden = true;
      item.querySelector(".menu-top").setAttribute("aria-expanded", "false");
    }
  }

  function clickMenu(key, name) {
    closeSubmenus(null);
    if (!persona) return openPersonaSheet();
    addEntry(current(), { who: "note", text: `点击了菜单「${name}」` });
    send("event", { Event: "CLICK", EventKey: key }, null);
  }

  function buildMenu() {
    const menu = $("menu");
    for (const top of config.menu) {
      const item = el("div", "menu-item");
      const button = el("button", top.sub_button ? "menu-top has-sub" : "menu-top", top.name);
      button.type = "button";
      item.append(button);
      if (top.sub_button) {
        const sub = el("div", "submenu");
        sub.hidden = true;
        sub.setAttribute("role", "menu");
        for (const entry of top.sub_button) {
          const option = el("button", "", entry.name);
          option.type = "button";
          option.setAttribute("role", "menuitem");
          option.addEventListener("click", () => clickMenu(entry.key, entry.name));
          sub.append(option);
        }
        item.append(sub);
        button.setAttribute("aria-haspopup", "menu");
        button.setAttribute("aria-expanded", "false");
        button.addEventListener("click", (event) => {
          event.stopPropagation();
          const opening = sub.hidden;
          closeSubmenus(item);
          sub.hidden = !opening;
          button.setAttribute("aria-expanded", String(opening));
        });
      } else {
        button.addEventListener("click", () => clickMenu(top.key, top.name));
      }
      menu.append(item);
    }
    document.addEventListener("click", (event) => {
      if (!event.target.closest(".menu-item")) closeSubmenus(null);
    });
  }

  function showInput(showKeyboard) {
    closeSubmenus(null);
    $("menu-bar").hidden = showKeyboard;
    $("input-bar").hidden = !showKeyboard;
    $("plus-panel").hidden = true;
    if (showKeyboard) $("message-input").focus();
  }

  function wireInput() {
    const input = $("message-input");
    $("keyboard-button").addEventListener("click", () => showInput(true));
    $("menu-button").addEventListener("click", () => showInput(false));
    input.addEventListener("input", () => {
      const typed = input.value.trim() !== "";
      $("send-button").hidden = !typed;
      $("plus-button").hidden = typed;
    });
    $("input-bar").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      if (!persona) return openPersonaSheet();
      input.value = "";
      input.dispatchEvent(new Event("input"));
      send("text", { Content: text }, { who: "me", kind: "text", text });
    });
    $("plus-button").addEventListener("click", () => {
      const panel = $("plus-panel");
      panel.hidden = !panel.hidden;
      $("plus-button").setAttribute("aria-expanded", String(!panel.hidden));
    });
    $("location-button").addEventListener("click", () => {
      $("plus-panel").hidden = true;
      if (!persona) return openPersonaSheet();
      openLocationSheet();
    });
  }

  function start() {
    buildMenu();
    wireInput();
    $("persona-button").addEventListener("click", openPersonaSheet);
    $("more-button").addEventListener("click", openMoreSheet);
    $("sheet-cancel").addEventListener("click", closeSheet);
    $("sheet").addEventListener("click", (event) => {
      if (event.target === $("sheet") && persona) closeSheet();
    });
    window.setInterval(poll, POLL_MS);
    window.simulator = { sha1Hex, sha1Fallback };  // for checking the signature by hand in the console
    openPersonaSheet();
  }

  start();
})();
