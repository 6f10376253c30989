/*
 * playbook_run.c - the playbook runner (layer: daemon): a daemon service
 * that takes the engine's operational events (bh->event) and runs the
 * running config's steps for each, in order, from the daemon's loop.
 *
 * Each event with steps becomes a job.  A job runs one step per round of
 * the loop (a zero timer between steps), so clients are served between
 * steps.  The VM steps are single libvirt calls that do not wait for the
 * guest (virt_vm_action); a `run` step forks the command (execv, never a
 * shell), writes the event as one JSON object on its standard input, and
 * is watched through its output pipe and a timeout timer, so the loop
 * never waits for it.  Jobs are independent: a slow command holds only
 * its own job.
 *
 * Every step's outcome is one audit record ("playbook TRIGGER workload
 * W step I/N: ACTION", ok or not, with libvirt's answer or the command's
 * exit status and first line of output), and a job's start is one more
 * (its event as detail).  A failing step is audited and the job goes on
 * with the next: a playbook reports, it never stops what triggered it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "json.h"
#include "libvirt.h"
#include "loop.h"
#include "playbook.h"
#include "policy.h"
#include "util.h"

/* What of a command's output is kept: the first line goes to the audit. */
#define OUTPUT_KEEP 4096
/* How often a command that closed its output but has not exited is
 * looked at again. */
#define REAP_POLL_MS 20

struct runner;

struct job {
	struct runner *r;
	char trigger[PLAYBOOK_TRIGGER_MAX + 1];
	char workload[BH_NAME_MAX + 1];
	char *event;                 /* the JSON a command gets */
	struct playbook_step *steps;
	size_t n, i;                 /* steps; the next to run */
	pid_t pid;                   /* a running command; 0: none */
	int out_fd;                  /* its output pipe; -1: closed */
	int timer;                   /* its timeout timer; 0: none */
	int next_timer;              /* the next step or reap; 0: none */
	int timed_out;
	struct strbuf output;
	struct job *next;
};

struct runner {
	struct bh *bh;
	struct loop *loop;
	struct virt *virt;
	struct job *jobs;
	bh_event_fn *prev_event;     /* what bh->event was before us */
	void *prev_handle;
};

static void job_step(void *arg);

/* ---- jobs ------------------------------------------------------------------ */

static void job_free(struct job *j)
{
	struct job **p;

	for (p = &j->r->jobs; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	free(j->event);
	playbook_steps_free(j->steps, j->n);
	sb_free(&j->output);
	free(j);
}

/* One audit record for step j->i (1-based: the one just run). */
static void audit_step(struct job *j, const struct playbook_step *s, int ok,
                       const char *detail)
{
	struct strbuf cmd = STRBUF_INIT;

	/* The step's own trigger: a tag event runs the plain trigger's
	 * steps and the tag's own. */
	sb_addf(&cmd, "playbook %s workload %s step %zu/%zu: ",
	        s ? s->trigger : j->trigger, j->workload, j->i, j->n);
	if (s) {
		sb_add(&cmd, s->action);
		if (s->arg && *s->arg)
			sb_addf(&cmd, " %s", s->arg);
	}
	policy_audit_record(j->r->bh, sb_str(&cmd), ok, detail);
	sb_free(&cmd);
}

/* The next step on the next round of the loop. */
static void job_continue(struct job *j)
{
	j->next_timer = loop_timer_add(j->r->loop, 0, job_step, j);
}

/* ---- run: a command ----------------------------------------------------------- */

/* The command has exited (@status from waitpid): audit and go on. */
static void run_done(struct job *j, int status)
{
	const struct playbook_step *s = &j->steps[j->i - 1];
	char detail[1024], line[512];
	const char *out = sb_str(&j->output);
	size_t len = strcspn(out, "\n");
	int ok = 0;

	if (len >= sizeof line)
		len = sizeof line - 1;
	memcpy(line, out, len);
	line[len] = '\0';
	if (j->timer)
		loop_timer_del(j->r->loop, j->timer);
	j->timer = 0;
	j->pid = 0;
	if (j->timed_out)
		snprintf(detail, sizeof detail, "killed after its timeout of "
		         "%d s", s->timeout_s);
	else if (WIFEXITED(status))
		snprintf(detail, sizeof detail, "exit status %d",
		         WEXITSTATUS(status)), ok = WEXITSTATUS(status) == 0;
	else if (WIFSIGNALED(status))
		snprintf(detail, sizeof detail, "killed by signal %d",
		         WTERMSIG(status));
	else
		snprintf(detail, sizeof detail, "ended (status %d)", status);
	if (line[0]) {
		size_t used = strlen(detail);

		snprintf(detail + used, sizeof detail - used, ": %s", line);
	}
	audit_step(j, s, ok, detail);
	if (!ok)
		daemon_log(LOG_WARNING, "playbook %s workload %s step "
		           "%zu failed: %s", j->trigger, j->workload, j->i,
		           detail);
	job_continue(j);
}

/* Reap the command once it has closed its output. */
static void run_reap(void *arg)
{
	struct job *j = arg;
	int status;
	pid_t p = waitpid(j->pid, &status, WNOHANG);

	j->next_timer = 0;
	if (p == 0) {
		/* Closed its output but runs on: look again; the timeout
		 * still holds. */
		j->next_timer = loop_timer_add(j->r->loop, REAP_POLL_MS,
		                               run_reap, j);
		return;
	}
	if (p < 0)
		status = 255 << 8;
	run_done(j, status);
}

static void run_output(void *arg, int fd, short revents)
{
	struct job *j = arg;
	char buf[4096];
	ssize_t got = read(fd, buf, sizeof buf);

	(void)revents;   /* read() tells data, end and error apart */
	if (got > 0) {
		if (j->output.len < OUTPUT_KEEP)
			sb_addn(&j->output, buf, (size_t)got);
		return;
	}
	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	loop_io_del(j->r->loop, fd);
	close(fd);
	j->out_fd = -1;
	run_reap(j);
}

static void run_timeout(void *arg)
{
	struct job *j = arg;

	j->timer = 0;
	if (j->pid > 0) {
		j->timed_out = 1;
		/* The command leads its own process group: whatever it
		 * started goes with it. */
		kill(-j->pid, SIGKILL);
	}
}

/* In the child: the command with the event on standard input. */
static void run_child(int in, int out, char **argv, char **envp)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setsid();
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(126);
	/* Nothing of the daemon's (client sockets, the store) may leak. */
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	execve(argv[0], argv, envp);
	dprintf(1, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* The daemon's environment with BULKHEAD_TRIGGER and BULKHEAD_WORKLOAD
 * set, made before fork(): the child only calls what is safe there. */
static char **child_env(const struct job *j, struct strv *own)
{
	extern char **environ;
	struct strbuf sb = STRBUF_INIT;
	char **envp;
	size_t n = 0, k = 0;

	sb_addf(&sb, "BULKHEAD_TRIGGER=%s", j->trigger);
	strv_push(own, sb_str(&sb));
	sb_reset(&sb);
	sb_addf(&sb, "BULKHEAD_WORKLOAD=%s", j->workload);
	strv_push(own, sb_str(&sb));
	sb_free(&sb);
	while (environ && environ[n])
		n++;
	envp = xcalloc(n + 3, sizeof *envp);
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "BULKHEAD_TRIGGER=", 17) != 0 &&
		    strncmp(environ[i], "BULKHEAD_WORKLOAD=", 18) != 0)
			envp[k++] = environ[i];
	envp[k++] = own->v[0];
	envp[k++] = own->v[1];
	return envp;
}

/* Start step @s's command; 0 when it runs (its end comes through the
 * loop), -1 with @why when it could not start. */
static int run_start(struct job *j, const struct playbook_step *s, char *why,
                     size_t len)
{
	struct tokv tv = TOKV_INIT;
	struct strv envs = STRV_INIT;
	char err[256], **argv, **envp;
	int in[2], out[2];
	pid_t pid;

	if (tokenize(s->arg, &tv, err, sizeof err) < 0 || tv.n == 0) {
		snprintf(why, len, "command does not parse: %s", err);
		tokv_free(&tv);
		return -1;
	}
	argv = xcalloc(tv.n + 1, sizeof *argv);
	for (size_t k = 0; k < tv.n; k++)
		argv[k] = tv.v[k].text;
	envp = child_env(j, &envs);
	if (pipe2(in, O_CLOEXEC) < 0) {
		snprintf(why, len, "pipe: %s", strerror(errno));
		goto fail;
	}
	if (pipe2(out, O_CLOEXEC) < 0) {
		snprintf(why, len, "pipe: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(why, len, "fork: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		goto fail;
	}
	if (pid == 0)
		run_child(in[0], out[1], argv, envp);
	close(in[0]);
	close(out[1]);
	/* The event is a few hundred bytes, far below a pipe's buffer:
	 * one write that cannot block.  A command that does not read it
	 * simply never sees it. */
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	{
		struct strbuf line = STRBUF_INIT;

		sb_addf(&line, "%s\n", j->event);
		if (write(in[1], line.s, line.len) < 0) {
			/* EPIPE: the command exited at once; its status
			 * tells. */
		}
		sb_free(&line);
	}
	close(in[1]);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	j->pid = pid;
	j->out_fd = out[0];
	j->timed_out = 0;
	sb_reset(&j->output);
	if (loop_io_add(j->r->loop, out[0], POLLIN, run_output, j) < 0) {
		/* No room to watch it: wait for it by polling instead. */
		close(out[0]);
		j->out_fd = -1;
		j->next_timer = loop_timer_add(j->r->loop, REAP_POLL_MS,
		                               run_reap, j);
	}
	j->timer = loop_timer_add(j->r->loop, (int64_t)s->timeout_s * 1000,
	                          run_timeout, j);
	free(argv);
	free(envp);
	strv_free(&envs);
	tokv_free(&tv);
	return 0;
fail:
	free(argv);
	free(envp);
	strv_free(&envs);
	tokv_free(&tv);
	return -1;
}

/* ---- the steps ------------------------------------------------------------------- */

static void job_step(void *arg)
{
	struct job *j = arg;
	const struct playbook_step *s;
	struct bh *bh = j->r->bh;
	char result[1024];
	int ok = 0;

	j->next_timer = 0;
	if (j->i >= j->n) {
		job_free(j);
		return;
	}
	s = &j->steps[j->i++];
	result[0] = '\0';
	if (strcmp(s->action, "run") == 0) {
		if (run_start(j, s, result, sizeof result) == 0)
			return;
	} else if (strcmp(s->action, "audit") == 0) {
		snprintf(result, sizeof result, "%s", j->event);
		ok = 1;
	} else if (!j->r->virt) {
		snprintf(result, sizeof result, "the daemon runs without "
		         "libvirt (--no-libvirt)");
	} else {
		enum virt_vm_op op = VIRT_VM_SNAPSHOT;

		if (strcmp(s->action, "shutdown") == 0)
			op = strcmp(s->arg, "force") == 0 ? VIRT_VM_DESTROY :
			                                     VIRT_VM_SHUTDOWN;
		else if (strcmp(s->action, "pause") == 0)
			op = VIRT_VM_PAUSE;
		else if (strcmp(s->action, "resume") == 0)
			op = VIRT_VM_RESUME;
		if (virt_vm_action(j->r->virt, j->workload, op, NULL, result,
		                   sizeof result) == 0)
			ok = 1;
		else
			snprintf(result, sizeof result, "%s", bh->err);
	}
	audit_step(j, s, ok, result);
	if (!ok)
		daemon_log(LOG_WARNING, "playbook %s workload %s step "
		           "%zu failed: %s", j->trigger, j->workload, j->i,
		           result);
	job_continue(j);
}

/* The JSON a command reads: the event and the workload's identity. */
static char *event_json(struct bh *bh, const char *trigger,
                        const char *workload, const char *detail)
{
	struct strbuf sb = STRBUF_INIT;
	struct json js;
	struct workload w;
	char when[64];
	time_t t = time(NULL);
	struct tm tm;
	int have = policy_workload_get(bh, workload, &w) == 0;

	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_init(&js, &sb);
	json_obj_begin(&js);
	json_kstr(&js, "trigger", trigger);
	json_kstr(&js, "workload", workload);
	json_kstr(&js, "uuid", have ? w.uuid : "");
	json_kstr(&js, "kind", have ? w.kind : "");
	json_kstr(&js, "time", when);
	json_obj_end(&js);
	if (have)
		policy_workload_free(&w);
	/* detail is a JSON object already: spliced in as "detail". */
	if (sb.len && sb.s[sb.len - 1] == '}') {
		sb.s[--sb.len] = '\0';
		sb_addf(&sb, ",\"detail\":%s}", detail && *detail ? detail :
		        "{}");
	}
	{
		char *r = xstrdup(sb_str(&sb));

		sb_free(&sb);
		return r;
	}
}

/* bh->event while the runner runs. */
static void on_event(struct bh *bh, const char *trigger, const char *workload,
                     const char *detail)
{
	struct runner *r = bh->event_handle;
	struct playbook_step *steps = NULL;
	/* Only tag events have per-tag playbooks. */
	const char *p = detail && strncmp(trigger, "tag-", 4) == 0 ?
	                strstr(detail, "\"tag\":\"") : NULL;
	char tag[BH_NAME_MAX + 1] = "", err[BH_ERR_MAX];
	struct strbuf cmd = STRBUF_INIT;
	struct job *j;
	size_t n = 0;

	if (p) {
		size_t len = strcspn(p + 7, "\"");

		snprintf(tag, sizeof tag, "%.*s", (int)len, p + 7);
	}
	/* bh->err belongs to whoever called us (a command's result). */
	snprintf(err, sizeof err, "%s", bh->err);
	if (playbook_steps_for(bh, trigger, tag, &steps, &n) < 0) {
		daemon_log(LOG_WARNING, "playbook %s workload %s: %s",
		           trigger, workload, bh->err);
		snprintf(bh->err, sizeof bh->err, "%s", err);
		return;
	}
	if (n == 0) {
		snprintf(bh->err, sizeof bh->err, "%s", err);
		return;
	}
	j = xcalloc(1, sizeof *j);
	j->r = r;
	snprintf(j->trigger, sizeof j->trigger, "%s%s%s", trigger,
	         tag[0] ? ":" : "", tag);
	snprintf(j->workload, sizeof j->workload, "%s", workload);
	j->event = event_json(bh, trigger, workload, detail);
	j->steps = steps;
	j->n = n;
	j->out_fd = -1;
	j->next = r->jobs;
	r->jobs = j;
	sb_addf(&cmd, "playbook %s workload %s: %zu step%s started", j->trigger,
	        workload, n, n == 1 ? "" : "s");
	policy_audit_record(bh, sb_str(&cmd), 1, j->event);
	sb_free(&cmd);
	snprintf(bh->err, sizeof bh->err, "%s", err);
	job_continue(j);
}

/* ---- the service ---------------------------------------------------------------- */

void *playbook_service_start(const struct daemon_env *env, char *err,
                             size_t errlen)
{
	struct runner *r = xcalloc(1, sizeof *r);

	(void)err;
	(void)errlen;
	r->bh = env->bh;
	r->loop = env->loop;
	r->virt = env->virt;
	r->prev_event = env->bh->event;
	r->prev_handle = env->bh->event_handle;
	env->bh->event = on_event;
	env->bh->event_handle = r;
	return r;
}

void playbook_service_stop(void *state)
{
	struct runner *r = state;

	if (!r)
		return;
	if (r->bh->event == on_event) {
		r->bh->event = r->prev_event;
		r->bh->event_handle = r->prev_handle;
	}
	while (r->jobs) {
		struct job *j = r->jobs;

		if (j->pid > 0) {
			int status;

			kill(-j->pid, SIGKILL);
			waitpid(j->pid, &status, 0);
			audit_step(j, &j->steps[j->i - 1], 0,
			           "killed: the daemon stopped");
		}
		if (j->out_fd >= 0) {
			loop_io_del(r->loop, j->out_fd);
			close(j->out_fd);
		}
		if (j->timer)
			loop_timer_del(r->loop, j->timer);
		if (j->next_timer)
			loop_timer_del(r->loop, j->next_timer);
		job_free(j);
	}
	free(r);
}
