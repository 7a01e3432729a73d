"""Warm start: a job's runner forked from a process that has imported torch and Lightning.

Importing torch and Lightning takes most of a short job's start. A *warm parent*
(:mod:`trn.warm.parent`), one per ``$TRN_HOME``, Python executable and trn install, imports
them once, never initialises CUDA nor starts a thread, and listens on an owner-only Unix socket.
For each job the supervisor asks it (:mod:`trn.warm.client`) to fork a runner; the child
(:mod:`trn.warm.child`) takes the job's environment, working directory and ``sys.path``, starts
its own session, and runs exactly what ``python -m trn.runner JOB_DIR`` runs. User code is only
imported in the child, so every job sees the project's files as they are now.

The parent starts on demand, exits after ``TRN_WARM_IDLE_S`` idle seconds (default 900), and
refuses to fork (then exits) once a file it imported has changed since it started. Anything that
cannot use it starts cold, as before, with one warning in the job's record.
"""
