"""The Slack front end: a Bolt app (HTTP and Socket Mode), approvals, and the
outgoing-message pipeline that renders each deploy as one threaded message.

Every Web API call the bot makes after ``ack()`` goes through
:class:`bot.slack.posters.ChannelPosters` (one ordered
:class:`bot.slack.poster.SlackPoster` per channel), so ordering, Slack's rate
limits and update coalescing are handled in one place and never block a deploy.
"""
