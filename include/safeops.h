/*
 * safeops.h - safe operations (issue 5): the management-access check a
 * commit makes before it changes anything (src/access.c, policy layer),
 * and the SSH forced command for integrations (src/sshcmd.c, front end).
 */
#ifndef BH_SAFEOPS_H
#define BH_SAFEOPS_H

#include <stddef.h>
#include <sys/types.h>

#include "bulkhead.h"
#include "util.h"

struct config;
struct inventory;

/*
 * One SSH session's path as SSH_CONNECTION gives it: "CADDR CPORT SADDR
 * SPORT".  Addresses canonical (an IPv4-mapped IPv6 address as IPv4, a
 * zone index dropped).
 */
struct ssh_path {
	char caddr[64];
	char saddr[64];
	int cport, sport;
};
/* 0, or -1 when @text is not of that form. */
int access_path_parse(const char *text, struct ssh_path *p);

/*
 * The verdict of @cfg (membership computed over @inv) on a TCP packet
 * @src -> @dst port @dport checked on a NIC of workload @at: the first
 * matching enabled rule in section order, else the default action.
 * Returns the action (enum action); *rule_id gets the rule's id, 0 for
 * the default.  The same first-match walk the compiled chains make; the
 * flow set (established flows) is not looked at.
 */
int access_verdict(const struct config *cfg, const char *at,
                   const char *src, const char *dst, int dport,
                   int64_t *rule_id);

/*
 * Before a commit: when the acting session came over SSH (bh->ssh) and its
 * path crosses a managed NIC (the client's address, or the address it
 * reached, is bound to one), ask whether the candidate would drop what
 * the running config lets through on that path.  Nothing to fear: 0.
 * It would: without @force or @confirmed, -1 with the refusal in bh->err
 * (what would be dropped, by which rule, and what to do); with either,
 * 0 and the warning appended to @note (one line, no newline).  Read
 * only: the store and the kernel are not changed.
 */
int access_commit_check(struct bh *bh, int force, int confirmed,
                        struct strbuf *note);

/*
 * A process's session: SSH_CONNECTION from the environment of process
 * @pid (/proc/PID/environ) into @buf, "" when it has none or cannot be
 * read.  A process that came through sudo (SUDO_USER set, SSH_CONNECTION
 * dropped by env_reset) is followed to its parents, up to the sudo that
 * still has it.  The daemon asks it of its peer; bh_open of its parent
 * when sudo dropped the variable.
 */
void access_peer_ssh(pid_t pid, char *buf, size_t len);

/*
 * Idempotent adds (src/idem.c; `--idempotent`): each returns 1 when the
 * object exists with what the command gives (the "exists unchanged" line
 * appended to @what), 0 when it does not exist (go on with the add), -1
 * when it exists otherwise (bh->err names the difference and the fix).
 * A NULL or "" field of the given object was not given: not compared.
 * idem_rule compares only a rule given with an id (r->id), else 0.
 */
struct workload;
struct nic;
struct group;
struct service;
struct rule;
int idem_workload(struct bh *bh, const struct workload *w, const char *kind,
                  struct strbuf *what);
int idem_nic(struct bh *bh, const char *wl, const struct nic *nic,
             struct strbuf *what);
int idem_address(struct bh *bh, const char *wl, const char *addr,
                 const char *ifname, struct strbuf *what);
int idem_tag(struct bh *bh, const char *wl, const char *tag,
             struct strbuf *what);
int idem_group(struct bh *bh, const struct group *g, struct strbuf *what);
int idem_service(struct bh *bh, const struct service *s,
                 struct strbuf *what);
int idem_rule(struct bh *bh, const struct rule *r, struct strbuf *what);

/*
 * `delete` with --idempotent: 1 when the object is not there (the line
 * "... does not exist: nothing to delete" appended to @what), 0 when it
 * is (go on with the delete), -1 on failure (bh->err).  @a is the name
 * (a rule's id as text, an interface name); for tags and addresses @a is
 * the workload, which must exist (else 0: the delete names the error),
 * and @b the tag or address.
 */
enum idem_kind {
	IDEM_WORKLOAD, IDEM_NIC, IDEM_TAG, IDEM_ADDRESS, IDEM_GROUP,
	IDEM_SERVICE, IDEM_RULE
};
int idem_absent(struct bh *bh, enum idem_kind kind, const char *a,
                const char *b, struct strbuf *what);

/*
 * `bulkhead ssh-command`, an authorized_keys forced command: runs
 * $SSH_ORIGINAL_COMMAND as one batch through the daemon only (never an
 * engine in-process), JSON out, limited to the commands of an integration
 * (show, help, add/delete tag, quarantine, release) before the daemon's
 * roles are even asked.  @argv[0] is "ssh-command".  Returns the exit
 * status (0 ok, 1 refused or failed, 2 usage).
 */
int sshcmd_main(int argc, char **argv, const char *db, const char *socket);

#endif
