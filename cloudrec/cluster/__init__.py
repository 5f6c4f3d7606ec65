"""Recording on many machines: the cost of a job, how workers and jobs are
kept in Redis, and the worker node that runs bots for any control node."""
