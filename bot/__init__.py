"""售后服务号: the WeChat after-sales bot, its scheduler and its admin app."""
