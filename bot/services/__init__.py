"""Domain services: the rules, called alike by WeChat handlers, admin views, API and jobs."""
