"""WeChat Official Account API: an async client, its access-token cache, and a fake server.

Only this package talks to WeChat's HTTP API; the rest of the bot calls `WeChatClient` and
tests point it at the fake (`bot.wechat.fake`) over real HTTP.
"""
