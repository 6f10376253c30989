/*
 * cmd.c - the command language (front end): one grammar table, and the
 * parser, dispatcher, completion, `?` help and `help` that all read it.
 *
 * Every command is declared once in commands[] below, as FRR's vtysh and
 * SQLite's shell do it: its head words ("add rule"), its positional
 * arguments, its optional keyword clauses (which may come in any order,
 * each at most once), a help text for every token, and its handler.  One
 * walker (walk()) reads a command's tokens against that table; run for real
 * it fills a struct parse for the handler, run as a peek it reports what may
 * come next, which is where completion and `?` get their answers.  Usage
 * lines are generated from the table, so help can never drift from what the
 * parser accepts.
 *
 * This layer only dispatches: handlers turn parsed words into the policy
 * layer's structs and call it; the store, the validation of the policy and
 * the enforcement all live below.  Every command other than `show` and
 * `help` is written to the audit log, failures included.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "address.h"
#include "flowlog.h"
#include "json.h"
#include "lab.h"
#include "engine.h"
#include "libvirt.h"
#include "match.h"
#include "playbook.h"
#include "policy.h"
#include "safeops.h"
#include "quarantine.h"
#include "show.h"
#include "explain.h"

/* ---- the grammar table: types ------------------------------------------ */

/* What kind of value a parameter takes. */
enum kind {
	K_NONE,        /* no value: a fixed keyword, or a flag clause */
	K_CHOICE,      /* one word of .choices ("allow|drop") */
	K_WORD,        /* any one word: a new name, text, an address... */
	K_NUMBER,      /* a whole number, 1 or more */
	K_NAME,        /* an existing object, completed from policy_names() */
	K_REVISION,    /* a revision number (0 or more), completed from history */
	K_MATCH,       /* a match expression: as many tokens as it takes */
	K_SERVICE_DEF, /* PROTO [PORTS] [PROTO [PORTS]]...: the rest */
	K_COMMAND,     /* command words (help): the rest */
	K_REST,        /* free words: the rest of the command */
};

#define F_LIST 1u  /* comma list; a token ending in ',' joins the next */
#define F_ANY  2u  /* "any" alone is allowed and means the empty list */
#define F_OPT  4u  /* optional positional (only at the end) */
#define F_NONE 8u  /* "none" alone, unquoted, empties what the clause sets
                      (the placeholder spells it: "TEXT|none") */

/*
 * One token or token group of a command.  A positional parameter is either
 * a fixed keyword (kw set, meta NULL) or a value (meta set).  A clause has
 * a keyword and either a value (meta set) or none (a flag).
 */
struct param {
	const char *kw;       /* keyword */
	const char *meta;     /* the value's placeholder in usage: "NAME" */
	enum kind kind;
	unsigned flags;
	int names;            /* K_NAME: enum name_kind */
	const char *choices;  /* K_CHOICE: "allow|drop" */
	const char *noun;     /* what a bad value is called: "section" */
	const char *help;
	const char *excl;     /* clause: the clause it cannot come with */
};

/* Groups of the `help` overview. */
enum {
	G_INVENTORY,
	G_POLICY,
	G_CONFIG,
	G_SHOW,
	G_OTHER,
	G_COUNT
};

struct ctx;
#define MAXARGS 8
#define MAXOPTS 16

struct command {
	const char *head;     /* "add rule": verb, then object if any */
	int group;            /* G_* */
	int changes;          /* audited: anything but show and help */
	int (*run)(struct ctx *c);
	const char *summary;  /* one line: `?` and the overview */
	const char *desc;     /* `help COMMAND` */
	const char *example;
	struct param args[MAXARGS];   /* positional; ends at kw == meta == NULL */
	struct param opts[MAXOPTS];   /* clauses, any order */
};

/* A parsed value. */
struct value {
	int set;
	int none;                  /* F_NONE: "none" was given */
	const char *text;          /* the word, a list's joined text, the
	                              canonical match text */
	char *own;                 /* what text points to when allocated */
	struct strv list;          /* F_LIST items; rest-of-line words */
	const struct token *tok;   /* first token of the value */
	size_t ntok;
};

struct parse {
	const struct command *cmd;
	struct value arg[MAXARGS];
	struct value opt[MAXOPTS];
};

/* What a handler gets. */
struct ctx {
	struct bh *bh;
	const struct cmd_opts *o;
	const struct parse *p;
	struct strbuf *out;   /* shows, help and JSON write here */
	struct strbuf msg;    /* the one-line result of a changing command:
	                         printed in text mode, audited always */
};

/* ---- choices shared by several commands -------------------------------- */

#define SECTIONS "emergency|infrastructure|environment|application"
#define ACTIONS  "allow|drop|reject"
#define PROTOS   "tcp|udp|icmp|icmpv6"
#define ICMP_TYPES "echo-request|echo-reply|destination-unreachable|" \
	"time-exceeded|parameter-problem"
#define ICMPV6_TYPES ICMP_TYPES "|packet-too-big"

/* ---- handlers (defined below the table) -------------------------------- */

static int run_add_workload(struct ctx *c);
static int run_add_nic(struct ctx *c);
static int run_add_address(struct ctx *c);
static int run_add_tag(struct ctx *c);
static int run_add_group(struct ctx *c);
static int run_add_service(struct ctx *c);
static int run_add_rule(struct ctx *c);
static int run_delete_address(struct ctx *c);
static int run_delete_tag(struct ctx *c);
static int run_delete_rule(struct ctx *c);
static int run_delete_group(struct ctx *c);
static int run_delete_service(struct ctx *c);
static int run_delete_workload(struct ctx *c);
static int run_delete_nic(struct ctx *c);
static int run_set_addressing(struct ctx *c);
static int run_pin_address(struct ctx *c);
static int run_clear_addresses(struct ctx *c);
static int run_set_default(struct ctx *c);
static int run_set_rule(struct ctx *c);
static int run_set_group(struct ctx *c);
static int run_set_service(struct ctx *c);
static int run_set_timeout(struct ctx *c);
static int run_set_commit_comment(struct ctx *c);
static int run_quarantine(struct ctx *c);
static int run_release(struct ctx *c);
static int run_set_quarantine(struct ctx *c);
static int run_show_quarantine(struct ctx *c);
static int run_show_workloads(struct ctx *c);
static int run_show_workload(struct ctx *c);
static int run_show_groups(struct ctx *c);
static int run_show_group(struct ctx *c);
static int run_show_services(struct ctx *c);
static int run_show_rules(struct ctx *c);
static int run_show_config(struct ctx *c);
static int run_show_diff(struct ctx *c);
static int run_show_history(struct ctx *c);
static int run_show_audit(struct ctx *c);
static int run_show_flows(struct ctx *c);
static int run_show_counters(struct ctx *c);
static int run_monitor_flows(struct ctx *c);
static int since_parse(struct ctx *c, const char *s, int64_t *ms);
static int run_suggest_rules(struct ctx *c);
static int run_show_ruleset(struct ctx *c);
static int run_show_status(struct ctx *c);
static int run_explain(struct ctx *c);
static int run_commit(struct ctx *c);
static int run_confirm(struct ctx *c);
static int run_discard(struct ctx *c);
static int run_rollback(struct ctx *c);
static int run_help(struct ctx *c);
static int run_lab_up(struct ctx *c);
static int run_lab_down(struct ctx *c);
static int run_show_lab(struct ctx *c);
static int run_add_playbook(struct ctx *c);
static int run_delete_playbook(struct ctx *c);
static int run_show_playbooks(struct ctx *c);
static int run_vm_snapshot(struct ctx *c);
static int run_vm_shutdown(struct ctx *c);
static int run_vm_pause(struct ctx *c);
static int run_vm_resume(struct ctx *c);

/* ---- the grammar table ------------------------------------------------- */

/* Parameters used by several commands. */
#define P_WORKLOAD(h) { .meta = "WORKLOAD", .kind = K_NAME, \
	.names = NAME_WORKLOAD, .noun = "workload", .help = h }
#define P_RULE_ID { .meta = "ID", .kind = K_NAME, .names = NAME_RULE, \
	.noun = "rule id", .help = "the rule's id, as 'show rules' lists it" }

static const struct command commands[] = {
	/* -- inventory: acts at once -- */
	{ .head = "add workload", G_INVENTORY, 1, run_add_workload,
	  "add a VM or container by hand",
	  "Adds a workload that libvirt does not report: a container (a network "
	  "namespace) or a static VM.  Inventory changes act at once; they are "
	  "not part of the candidate.",
	  "add workload db1 kind container netns db1 os alpine",
	  .args = {
		{ .meta = "NAME", .kind = K_WORD, .noun = "workload",
		  .help = "name of the new workload" },
	  },
	  .opts = {
		{ .kw = "kind", .meta = "vm|container", .kind = K_CHOICE,
		  .choices = "vm|container", .noun = "kind",
		  .help = "what it is (default: vm)" },
		{ .kw = "os", .meta = "TEXT", .kind = K_WORD,
		  .help = "guest operating system, matched by 'os GLOB'" },
		{ .kw = "netns", .meta = "NAME", .kind = K_WORD,
		  .help = "a container's network namespace" },
		{ .kw = "host", .meta = "TEXT", .kind = K_WORD,
		  .help = "the host it runs on (default: this one)" },
		{ .kw = "uuid", .meta = "UUID", .kind = K_WORD,
		  .help = "libvirt domain uuid" },
	  } },
	{ .head = "add nic", G_INVENTORY, 1, run_add_nic,
	  "add a network interface to a workload",
	  "Adds a NIC to a workload: its host-side interface (the tap or the "
	  "host end of a veth), its MAC and the addresses it may use.  Traffic "
	  "from the NIC may carry only these (spoof guard).",
	  "add nic web1 vnet0 mac 52:54:00:12:34:56 address 10.0.0.5,fd00::5",
	  .args = {
		P_WORKLOAD("the workload the NIC belongs to"),
		{ .meta = "IFNAME", .kind = K_WORD, .noun = "interface",
		  .help = "host-side interface name (tap, veth end)" },
	  },
	  .opts = {
		{ .kw = "mac", .meta = "MAC", .kind = K_WORD,
		  .help = "the NIC's MAC address" },
		{ .kw = "address", .meta = "ADDR", .kind = K_WORD,
		  .flags = F_LIST,
		  .help = "IPv4/IPv6 host addresses bound to the NIC" },
	  } },
	{ .head = "add address", G_INVENTORY, 1, run_add_address,
	  "bind an address to a workload's NIC",
	  "Binds one more IPv4 or IPv6 address to a NIC of the workload.  "
	  "Without 'nic' the workload must have exactly one NIC.",
	  "add address web1 10.0.0.6 nic vnet0",
	  .args = {
		P_WORKLOAD("the workload"),
		{ .meta = "ADDR", .kind = K_WORD,
		  .help = "IPv4 or IPv6 host address" },
	  },
	  .opts = {
		{ .kw = "nic", .meta = "IFNAME", .kind = K_NAME,
		  .names = NAME_NIC, .help = "which NIC (needed with several)" },
	  } },
	{ .head = "delete address", G_INVENTORY, 1, run_delete_address,
	  "unbind an address from a workload",
	  "Removes an address bound to one of the workload's NICs.",
	  "delete address web1 10.0.0.6",
	  .args = {
		P_WORKLOAD("the workload"),
		{ .meta = "ADDR", .kind = K_WORD,
		  .help = "the address to unbind" },
	  } },
	{ .head = "add tag", G_INVENTORY, 1, run_add_tag,
	  "tag a workload",
	  "Adds a tag to a workload; groups that match on it gain the workload "
	  "at once.  Tags of libvirt VMs are kept in the domain's metadata.",
	  "add tag web1 web",
	  .args = {
		P_WORKLOAD("the workload"),
		{ .meta = "TAG", .kind = K_NAME, .names = NAME_TAG,
		  .help = "the tag: letters, digits and . _ : = / -" },
	  } },
	{ .head = "delete tag", G_INVENTORY, 1, run_delete_tag,
	  "remove a tag from a workload",
	  "Removes a tag from a workload; groups that matched on it lose the "
	  "workload at once.",
	  "delete tag web1 web",
	  .args = {
		P_WORKLOAD("the workload"),
		{ .meta = "TAG", .kind = K_NAME, .names = NAME_TAG,
		  .help = "the tag to remove" },
	  } },
	{ .head = "delete workload", G_INVENTORY, 1, run_delete_workload,
	  "delete a workload and its NICs",
	  "Deletes a workload with its NICs, addresses and tags.",
	  "delete workload db1",
	  .args = {
		P_WORKLOAD("the workload to delete"),
	  } },
	{ .head = "delete nic", G_INVENTORY, 1, run_delete_nic,
	  "delete a network interface",
	  "Deletes a NIC and the addresses bound to it.",
	  "delete nic vnet0",
	  .args = {
		{ .meta = "IFNAME", .kind = K_NAME, .names = NAME_NIC,
		  .noun = "interface", .help = "the NIC's interface name" },
	  } },
	{ .head = "set addressing", G_INVENTORY, 1, run_set_addressing,
	  "choose where NICs get their addresses",
	  "Sets how NICs get bound addresses beyond the static ones: static "
	  "(only those), libvirt (asked from libvirt: DHCP lease, guest agent), "
	  "learn (the first address the NIC's own ARP, DHCP or ND traffic "
	  "shows: trust on first use) or libvirt,learn.  Without 'workload' it "
	  "sets the default; with it, that workload's own mode, or 'default' to "
	  "follow the default again.  Acts at once, like the inventory.",
	  "set addressing learn workload web1",
	  .args = {
		{ .meta = "MODE", .kind = K_CHOICE,
		  .choices = "static|libvirt|learn|libvirt,learn|default",
		  .noun = "addressing mode",
		  .help = "static, libvirt, learn, libvirt,learn (or default "
		          "with 'workload')" },
	  },
	  .opts = {
		{ .kw = "workload", .meta = "WORKLOAD", .kind = K_NAME,
		  .names = NAME_WORKLOAD, .noun = "workload",
		  .help = "only this workload (default: the default mode)" },
	  } },
	{ .head = "pin address", G_INVENTORY, 1, run_pin_address,
	  "keep a learned or libvirt address",
	  "Pins an address bound from libvirt or learned, so 'clear addresses' "
	  "keeps it, as it keeps static ones.  'delete address' still removes "
	  "it.",
	  "pin address web1 10.0.0.6",
	  .args = {
		P_WORKLOAD("the workload"),
		{ .meta = "ADDR", .kind = K_WORD,
		  .help = "the bound address to keep" },
	  } },
	{ .head = "clear addresses", G_INVENTORY, 1, run_clear_addresses,
	  "forget learned and libvirt addresses",
	  "Unbinds the addresses of a workload (or of every workload) that "
	  "were learned or found by libvirt and are not pinned, so its NICs "
	  "learn or ask libvirt again.  Static and pinned addresses stay.",
	  "clear addresses web1",
	  .args = {
		{ .meta = "WORKLOAD", .kind = K_NAME, .names = NAME_WORKLOAD,
		  .flags = F_OPT, .noun = "workload",
		  .help = "the workload (default: every workload)" },
	  } },

	/* -- policy: edits the candidate -- */
	{ .head = "quarantine", G_INVENTORY, 1, run_quarantine,
	  "cut a workload off at once",
	  "Quarantines a workload: its NICs join the quarantine set of the "
	  "emergency section, which drops everything it sends or receives, "
	  "live connections included, but the remediation allowance ('set "
	  "quarantine allow'), ARP, neighbour discovery and DHCP.  Acts at "
	  "once, no commit.  With 'for', it is released by itself when the "
	  "time is up.  The tag \"quarantine\" on a workload does the same.",
	  "quarantine web1 reason \"beaconing to 203.0.113.7\" for 30m",
	  .args = { P_WORKLOAD("the workload to cut off") },
	  .opts = {
		{ .kw = "reason", .meta = "TEXT", .kind = K_WORD,
		  .help = "why: kept in the record and sent with the event" },
		{ .kw = "for", .meta = "DURATION", .kind = K_WORD,
		  .help = "release by itself after 30s, 15m, 2h, 1d..." },
	  } },
	{ .head = "release", G_INVENTORY, 1, run_release,
	  "end a workload's quarantine",
	  "Releases a quarantined workload: its traffic meets the rules "
	  "again (its flows were forgotten: a cut connection that the rules "
	  "allow may carry on, as a new flow).  A tag \"quarantine\" on the workload "
	  "is removed too (from the libvirt domain for a VM), so that it does "
	  "not quarantine it again.",
	  "release web1",
	  .args = { P_WORKLOAD("the quarantined workload") } },
	{ .head = "add group", G_POLICY, 1, run_add_group,
	  "add a group of workloads and addresses",
	  "Adds a group to the candidate.  Members are the static ones, the "
	  "workloads the match expression selects and the static addresses; "
	  "membership follows the inventory by itself.  A match expression "
	  "joins 'tag TAG', 'name GLOB', 'os GLOB', 'host GLOB' and "
	  "'group NAME' with and, or, not and parentheses.",
	  "add group web match tag web and not name \"*-test\"",
	  .args = {
		{ .meta = "NAME", .kind = K_WORD, .noun = "group",
		  .help = "name of the new group" },
	  },
	  .opts = {
		{ .kw = "match", .meta = "EXPR", .kind = K_MATCH,
		  .help = "workloads selected by an expression" },
		{ .kw = "member", .meta = "WORKLOAD", .kind = K_NAME,
		  .names = NAME_WORKLOAD, .flags = F_LIST,
		  .help = "static member workloads" },
		{ .kw = "address", .meta = "CIDR", .kind = K_WORD,
		  .flags = F_LIST, .help = "static addresses or networks" },
	  } },
	{ .head = "add service", G_POLICY, 1, run_add_service,
	  "add a service (protocols and ports)",
	  "Adds a service to the candidate: one or more protocols, each with "
	  "its ports (tcp, udp: 443, 8000-8080,9000; none means all) or ICMP "
	  "type (echo-request...; none means all).",
	  "add service dns2 udp 53 tcp 53",
	  .args = {
		{ .meta = "NAME", .kind = K_WORD, .noun = "service",
		  .help = "name of the new service" },
		{ .meta = "PROTO [PORTS] [PROTO [PORTS]]...",
		  .kind = K_SERVICE_DEF,
		  .help = "tcp, udp, icmp or icmpv6, each with ports or type" },
	  } },
	{ .head = "add rule", G_POLICY, 1, run_add_rule,
	  "add a rule to the candidate",
	  "Adds a rule to a section of the candidate, last in it unless "
	  "'position' says where.  Sections are evaluated in the order "
	  "emergency, infrastructure, environment, application; the first "
	  "matching rule decides, else the default action.  The clauses after "
	  "DST may come in any order.",
	  "add rule application allow from web to db service postgres log "
	  "comment \"web tier to db\"",
	  .args = {
		{ .meta = "SECTION", .kind = K_CHOICE, .choices = SECTIONS,
		  .noun = "section",
		  .help = "emergency, infrastructure, environment or application" },
		{ .meta = "ACTION", .kind = K_CHOICE, .choices = ACTIONS,
		  .noun = "action", .help = "allow, drop or reject" },
		{ .kw = "from", .help = "the sources follow" },
		{ .meta = "SRC", .kind = K_NAME, .names = NAME_GROUP,
		  .flags = F_LIST | F_ANY, .noun = "source",
		  .help = "any, or source groups GROUP[,GROUP...]" },
		{ .kw = "to", .help = "the destinations follow" },
		{ .meta = "DST", .kind = K_NAME, .names = NAME_GROUP,
		  .flags = F_LIST | F_ANY, .noun = "destination",
		  .help = "any, or destination groups GROUP[,GROUP...]" },
	  },
	  .opts = {
		{ .kw = "service", .meta = "SVC", .kind = K_NAME,
		  .names = NAME_SERVICE, .flags = F_LIST,
		  .help = "services it matches (default: any)" },
		{ .kw = "applied-to", .meta = "GROUP", .kind = K_NAME,
		  .names = NAME_GROUP, .flags = F_LIST,
		  .help = "enforce only on these groups' NICs (default: all)" },
		{ .kw = "log", .help = "log the packets it matches" },
		{ .kw = "disabled", .help = "add it switched off" },
		{ .kw = "monitor",
		  .help = "log and count what it would drop, let it pass" },
		{ .kw = "comment", .meta = "TEXT", .kind = K_WORD,
		  .help = "a note, quoted when it has blanks" },
		{ .kw = "position", .meta = "N", .kind = K_NUMBER,
		  .noun = "position", .help = "place in the section (default: last)" },
		{ .kw = "id", .meta = "N", .kind = K_NUMBER, .noun = "rule id",
		  .help = "keep this id (replaying 'show config')" },
	  } },
	{ .head = "delete rule", G_POLICY, 1, run_delete_rule,
	  "delete a rule from the candidate",
	  "Deletes a rule from the candidate; the rules below it move up.",
	  "delete rule 7",
	  .args = { P_RULE_ID } },
	{ .head = "delete group", G_POLICY, 1, run_delete_group,
	  "delete a group from the candidate",
	  "Deletes a group from the candidate; refused while a rule or another "
	  "group's match refers to it.",
	  "delete group web",
	  .args = {
		{ .meta = "NAME", .kind = K_NAME, .names = NAME_GROUP,
		  .noun = "group", .help = "the group to delete" },
	  } },
	{ .head = "delete service", G_POLICY, 1, run_delete_service,
	  "delete a service from the candidate",
	  "Deletes a service from the candidate; refused for built-in "
	  "services and while a rule uses it.",
	  "delete service web",
	  .args = {
		{ .meta = "NAME", .kind = K_NAME, .names = NAME_SERVICE,
		  .noun = "service", .help = "the service to delete" },
	  } },
	{ .head = "set group", G_POLICY, 1, run_set_group,
	  "change a group's match, members or addresses",
	  "Changes a group of the candidate in place.  Each clause given "
	  "replaces that part of the group, 'none' empties it, and the parts "
	  "not given stay as they are; the rules and groups that name the group "
	  "need no change.  Checked as 'add group' is, and a match may not lead "
	  "back to the group through other groups.",
	  "set group web match tag web and not tag retired",
	  .args = {
		{ .meta = "NAME", .kind = K_NAME, .names = NAME_GROUP,
		  .noun = "group", .help = "the group to change" },
	  },
	  .opts = {
		{ .kw = "match", .meta = "EXPR|none", .kind = K_MATCH,
		  .flags = F_NONE,
		  .help = "a new match expression, or none to drop it" },
		{ .kw = "member", .meta = "WORKLOAD[,WORKLOAD...]|none",
		  .kind = K_NAME, .names = NAME_WORKLOAD,
		  .flags = F_LIST | F_NONE,
		  .help = "the static members from now on, or none" },
		{ .kw = "address", .meta = "CIDR[,CIDR...]|none", .kind = K_WORD,
		  .flags = F_LIST | F_NONE,
		  .help = "the static addresses from now on, or none" },
		{ .kw = "monitor", .excl = "enforce",
		  .help = "every rule applied to it only logs what it would "
		          "drop" },
		{ .kw = "enforce", .excl = "monitor",
		  .help = "its rules enforce again (each as its own flag says)" },
	  } },
	{ .head = "set service", G_POLICY, 1, run_set_service,
	  "replace a service's protocols and ports",
	  "Replaces all the protocols and ports of a service of the candidate; "
	  "the rules that use it follow.  Built-in services cannot be changed.",
	  "set service web tcp 80,443,8443",
	  .args = {
		{ .meta = "NAME", .kind = K_NAME, .names = NAME_SERVICE_OWN,
		  .noun = "service", .help = "the service to change" },
		{ .meta = "PROTO [PORTS] [PROTO [PORTS]]...",
		  .kind = K_SERVICE_DEF,
		  .help = "tcp, udp, icmp or icmpv6, each with ports or type" },
	  } },
	{ .head = "set rule", G_POLICY, 1, run_set_rule,
	  "change a rule, move it, or switch it on or off",
	  "Changes a rule of the candidate in place; its id stays.  Each clause "
	  "given replaces that part of the rule and the rest stays as it is: "
	  "'any' empties a list, 'comment none' drops the comment.  'position' "
	  "moves the rule within its section; 'section' moves it to the end of "
	  "another one, or to 'position' there.  A disabled rule stays in place "
	  "but matches nothing.",
	  "set rule 7 service https,http-alt log comment \"web tier\"",
	  .args = { P_RULE_ID },
	  .opts = {
		{ .kw = "action", .meta = "ACTION", .kind = K_CHOICE,
		  .choices = ACTIONS, .noun = "action",
		  .help = "allow, drop or reject" },
		{ .kw = "from", .meta = "SRC", .kind = K_NAME,
		  .names = NAME_GROUP, .flags = F_LIST | F_ANY,
		  .noun = "source",
		  .help = "any, or source groups GROUP[,GROUP...]" },
		{ .kw = "to", .meta = "DST", .kind = K_NAME,
		  .names = NAME_GROUP, .flags = F_LIST | F_ANY,
		  .noun = "destination",
		  .help = "any, or destination groups GROUP[,GROUP...]" },
		{ .kw = "service", .meta = "SVC[,SVC...]|any", .kind = K_NAME,
		  .names = NAME_SERVICE, .flags = F_LIST | F_ANY,
		  .noun = "service", .help = "the services it matches, or any" },
		{ .kw = "applied-to", .meta = "GROUP[,GROUP...]|any",
		  .kind = K_NAME, .names = NAME_GROUP, .flags = F_LIST | F_ANY,
		  .noun = "applied-to",
		  .help = "enforce only on these groups' NICs, or on all (any)" },
		{ .kw = "log", .excl = "nolog",
		  .help = "log the packets it matches" },
		{ .kw = "nolog", .excl = "log", .help = "stop logging them" },
		{ .kw = "enabled", .excl = "disabled", .help = "switch it on" },
		{ .kw = "disabled", .excl = "enabled",
		  .help = "switch it off: it stays in place, matching nothing" },
		{ .kw = "monitor", .excl = "enforce",
		  .help = "log and count what it would drop, let it pass" },
		{ .kw = "enforce", .excl = "monitor",
		  .help = "drop or reject again" },
		{ .kw = "comment", .meta = "TEXT|none", .kind = K_WORD,
		  .flags = F_NONE, .help = "a new note, or none to drop it" },
		{ .kw = "position", .meta = "N", .kind = K_NUMBER,
		  .noun = "position",
		  .help = "move it to this place in its section" },
		{ .kw = "section", .meta = "SECTION", .kind = K_CHOICE,
		  .choices = SECTIONS, .noun = "section",
		  .help = "move it to another section (last there unless "
		          "'position')" },
	  } },
	{ .head = "set default", G_POLICY, 1, run_set_default,
	  "set the action when no rule matches",
	  "Sets what happens to traffic that no rule matches, in the candidate.  "
	  "'drop monitor' logs and counts what the default would drop and lets "
	  "it pass: the safe first step of a default-deny roll-out.",
	  "set default drop monitor",
	  .args = {
		{ .meta = "allow|drop", .kind = K_CHOICE, .choices = "allow|drop",
		  .noun = "action",
		  .help = "the action when no rule matches" },
	  },
	  .opts = {
		{ .kw = "monitor",
		  .help = "drop: only log and count, let it pass" },
	  } },
	{ .head = "set timeout", G_POLICY, 1, run_set_timeout,
	  "set how long an idle flow stays allowed",
	  "Sets, in the candidate, how long an allowed flow may stay idle "
	  "before its packets are checked against the rules again.",
	  "set timeout tcp 2h",
	  .args = {
		{ .meta = "tcp|udp|icmp", .kind = K_CHOICE,
		  .choices = "tcp|udp|icmp", .noun = "protocol",
		  .help = "which flows" },
		{ .meta = "DURATION", .kind = K_WORD,
		  .help = "30s, 15m, 2h, 1d or seconds" },
	  } },

	{ .head = "set commit-comment", G_POLICY, 1, run_set_commit_comment,
	  "require a comment on every commit, or not",
	  "With 'required', a commit without 'comment TEXT' is refused, so the "
	  "history says why each revision was made.  Like every setting it "
	  "goes into the candidate; it holds once committed, and the commit "
	  "that switches it on or off needs a comment itself.",
	  "set commit-comment required",
	  .args = {
		{ .meta = "required|optional", .kind = K_CHOICE,
		  .choices = "required|optional", .noun = "value",
		  .help = "whether a commit needs a comment" },
	  } },
	{ .head = "set quarantine", G_POLICY, 1, run_set_quarantine,
	  "what a quarantined workload may still reach",
	  "Sets, in the candidate, the remediation allowance: quarantined "
	  "workloads may open connections to the members of GROUP on these "
	  "services (update servers, the antivirus console), and get the "
	  "replies.  One allowance per group; 'service none' removes the "
	  "group's.  Applies to every quarantined workload after 'commit'.",
	  "set quarantine allow updates service http,https",
	  .args = {
		{ .kw = "allow", .help = "the remediation allowance" },
		{ .meta = "GROUP", .kind = K_NAME, .names = NAME_GROUP,
		  .noun = "group", .help = "what stays reachable" },
	  },
	  .opts = {
		{ .kw = "service", .meta = "SVC[,...]|none", .kind = K_NAME,
		  .names = NAME_SERVICE, .flags = F_LIST | F_NONE,
		  .noun = "service", .help = "on these services" },
	  } },

	/* -- the config life cycle -- */
	{ .head = "commit", G_CONFIG, 1, run_commit,
	  "make the candidate the running config",
	  "Checks the candidate, applies it and records it as a new revision.  "
	  "With 'confirmed', the previous revision comes back unless 'confirm' "
	  "follows within MINUTES (a bare number), or a DURATION with its unit "
	  "(90s, 10m, 1h), even if your session dies or the daemon restarts "
	  "meanwhile: the deadline is kept in the store.  Before changing "
	  "anything, a commit over SSH checks whether the new policy would "
	  "cut your own session's path through a managed NIC, and refuses "
	  "unless 'confirmed' or 'force' is given (with either, it warns).",
	  "commit confirmed 5 comment \"open https to web\"",
	  .opts = {
		{ .kw = "confirmed", .meta = "MINUTES|DURATION", .kind = K_WORD,
		  .noun = "minutes",
		  .help = "roll back unless confirmed in time: minutes, or "
		          "30s, 10m, 1h" },
		{ .kw = "comment", .meta = "TEXT", .kind = K_WORD,
		  .help = "why: kept in the history" },
		{ .kw = "check", .help = "only check, with the kernel's verdict: "
		  "change nothing" },
		{ .kw = "force", .help = "commit even though it would cut your "
		  "own SSH session" },
	  } },
	{ .head = "confirm", G_CONFIG, 1, run_confirm,
	  "keep a 'commit confirmed'",
	  "Keeps the revision of a pending 'commit confirmed'.",
	  "confirm" },
	{ .head = "discard", G_CONFIG, 1, run_discard,
	  "drop your uncommitted changes",
	  "Drops your candidate and its uncommitted changes.",
	  "discard" },
	{ .head = "rollback", G_CONFIG, 1, run_rollback,
	  "load an old revision into the candidate",
	  "Replaces your candidate with the config of an earlier revision; "
	  "review it with 'show diff' and apply it with 'commit'.",
	  "rollback 3",
	  .args = {
		{ .meta = "REVISION", .kind = K_REVISION, .noun = "revision",
		  .help = "the revision to go back to ('show history')" },
	  } },

	/* -- show -- */
	{ .head = "show workloads", G_SHOW, 0, run_show_workloads,
	  "list workloads",
	  "Lists every workload with its NICs, addresses, tags and groups.",
	  "show workloads" },
	{ .head = "show workload", G_SHOW, 0, run_show_workload,
	  "show one workload",
	  "Shows a workload's attributes, tags, groups and NICs.",
	  "show workload web1",
	  .args = { P_WORKLOAD("the workload") } },
	{ .head = "show quarantine", G_SHOW, 0, run_show_quarantine,
	  "who is quarantined, why, since when, by whom",
	  "Lists the workloads in quarantine with the reason, who quarantined "
	  "them (user and SSH client, or the tag), since when and until when.  "
	  "With 'history', every quarantine ever made, newest first, with its "
	  "release.",
	  "show quarantine history",
	  .opts = {
		{ .kw = "history", .help = "released ones too, newest first" },
	  } },
	{ .head = "show groups", G_SHOW, 0, run_show_groups,
	  "list groups",
	  "Lists the groups of your candidate (or the running config) with "
	  "their current members.",
	  "show groups" },
	{ .head = "show group", G_SHOW, 0, run_show_group,
	  "show one group",
	  "Shows a group's definition, its current members and addresses, and "
	  "the rules that use it.",
	  "show group web",
	  .args = {
		{ .meta = "NAME", .kind = K_NAME, .names = NAME_GROUP,
		  .noun = "group", .help = "the group" },
	  } },
	{ .head = "show services", G_SHOW, 0, run_show_services,
	  "list services",
	  "Lists the services of your candidate (or the running config), "
	  "built-ins included.",
	  "show services" },
	{ .head = "show rules", G_SHOW, 0, run_show_rules,
	  "list rules",
	  "Lists the rules of your candidate (or the running config) in "
	  "evaluation order, then the default action.",
	  "show rules" },
	{ .head = "show config", G_SHOW, 0, run_show_config,
	  "print the config as commands",
	  "Prints the running config (or your candidate) as the commands that "
	  "rebuild it when replayed with 'bulkhead -f'.",
	  "show config candidate",
	  .opts = {
		{ .kw = "candidate", .help = "your candidate instead" },
	  } },
	{ .head = "show diff", G_SHOW, 0, run_show_diff,
	  "what a commit would change",
	  "Compares the running config with your candidate, a revision with "
	  "your candidate, or two revisions.",
	  "show diff 3 5",
	  .args = {
		{ .meta = "REV", .kind = K_REVISION, .flags = F_OPT,
		  .noun = "revision", .help = "compare from this revision" },
		{ .meta = "REV", .kind = K_REVISION, .flags = F_OPT,
		  .noun = "revision", .help = "to this revision" },
	  } },
	{ .head = "show history", G_SHOW, 0, run_show_history,
	  "list config revisions",
	  "Lists the committed revisions, newest first.",
	  "show history" },
	{ .head = "show audit", G_SHOW, 0, run_show_audit,
	  "show the audit log",
	  "Shows who changed what and when, failures included, oldest first "
	  "(the newest 50 unless 'last' says otherwise).",
	  "show audit user alice since 2h failed",
	  .opts = {
		{ .kw = "user", .meta = "USER", .kind = K_WORD,
		  .help = "only this user's commands" },
		{ .kw = "since", .meta = "WHEN", .kind = K_WORD,
		  .help = "a duration back (2h, 7d) or a date (2026-11-27)" },
		{ .kw = "contains", .meta = "TEXT", .kind = K_WORD,
		  .help = "only commands containing TEXT" },
		{ .kw = "failed", .help = "only failed commands" },
		{ .kw = "last", .meta = "N", .kind = K_NUMBER, .noun = "count",
		  .help = "the newest N records" },
	  } },
	{ .head = "show counters", G_SHOW, 0, run_show_counters,
	  "rule hit counters",
	  "Shows how many packets and bytes each rule has matched since it "
	  "was first loaded, then the default action's, the spoof guard's and "
	  "each NIC's drops, with the rate and last hit the daemon measured.  "
	  "With 'unused', the enabled rules never hit (or, with 'since', not "
	  "hit since then).  Read from the kernel: needs root.",
	  "show counters unused since 30d",
	  .opts = {
		{ .kw = "unused", .help = "only rules without hits" },
		{ .kw = "since", .meta = "WHEN", .kind = K_WORD,
		  .help = "with unused: no hit since a duration back (30d) or "
		          "a date" },
	  } },
	{ .head = "show flows", G_SHOW, 0, run_show_flows,
	  "the flow log",
	  "Shows the flow log the daemon keeps: new allowed flows and dropped "
	  "packets, oldest first, with workload, NIC, rule and verdict.  "
	  "'active' shows instead the flows the kernel remembers as allowed "
	  "now; 'history' the hourly totals in the store.",
	  "show flows workload web1 denied last 20",
	  .opts = {
		{ .kw = "workload", .meta = "WORKLOAD", .kind = K_NAME,
		  .names = NAME_WORKLOAD, .noun = "workload",
		  .help = "only flows of this workload (either end)" },
		{ .kw = "denied", .help = "only dropped and rejected packets" },
		{ .kw = "last", .meta = "N", .kind = K_NUMBER, .noun = "count",
		  .help = "the newest N records" },
		{ .kw = "after", .meta = "SEQ", .kind = K_NUMBER,
		  .noun = "sequence number",
		  .help = "only records newer than this one (for pollers)" },
		{ .kw = "active", .excl = "history",
		  .help = "the kernel's live allowed flows instead" },
		{ .kw = "history", .excl = "active",
		  .help = "the stored hourly totals instead" },
		{ .kw = "since", .meta = "WHEN", .kind = K_WORD,
		  .help = "with history: from a duration back (24h) or a date" },
	  } },
	{ .head = "monitor flows", G_SHOW, 0, run_monitor_flows,
	  "follow the flow log live",
	  "Prints flow records as the daemon logs them, until interrupted "
	  "(Ctrl-C).  Needs the daemon.",
	  "monitor flows denied",
	  .opts = {
		{ .kw = "workload", .meta = "WORKLOAD", .kind = K_NAME,
		  .names = NAME_WORKLOAD, .noun = "workload",
		  .help = "only flows of this workload (either end)" },
		{ .kw = "denied", .help = "only dropped and rejected packets" },
	  } },
	{ .head = "suggest rules", G_SHOW, 0, run_suggest_rules,
	  "allow rules for the observed traffic",
	  "Proposes group-to-group allow rules that would cover the traffic "
	  "the default action dropped, or monitor rules saw, in the flow "
	  "history, as commands to review and commit.",
	  "suggest rules since 24h group web",
	  .opts = {
		{ .kw = "since", .meta = "WHEN", .kind = K_WORD,
		  .help = "from a duration back (default 24h) or a date" },
		{ .kw = "group", .meta = "GROUP", .kind = K_NAME,
		  .names = NAME_GROUP, .noun = "group",
		  .help = "only traffic from or to this group" },
	  } },
	{ .head = "show ruleset", G_SHOW, 0, run_show_ruleset,
	  "the nftables ruleset",
	  "Shows the nftables ruleset that enforces the running config over "
	  "the inventory as it is (or that your candidate would give): the "
	  "compiler's output, as 'nft -f' would load it.",
	  "show ruleset",
	  .opts = {
		{ .kw = "candidate", .help = "your candidate instead" },
	  } },
	{ .head = "show status", G_SHOW, 0, run_show_status,
	  "enforcement status and drift",
	  "Shows the running revision, whether the enforcer is attached, and "
	  "whether the kernel's table matches the running config.  Drift "
	  "(someone edited or deleted the table) is listed; 'commit' repairs "
	  "it.",
	  "show status" },
	{ .head = "show lab", G_SHOW, 0, run_show_lab,
	  "what exists of a lab",
	  "Shows the lab made by 'lab up': its bridge and, for each workload, "
	  "whether its namespace, its veth's host end (up, on the bridge) and "
	  "its registration exist, with its MAC, addresses and tags.",
	  "show lab",
	  .opts = {
		{ .kw = "prefix", .meta = "NAME", .kind = K_WORD,
		  .help = "the lab's prefix (default " LAB_PREFIX_DEFAULT ")" },
	  } },

	/* -- playbooks and VM actions (issue 5) -- */
	{ .head = "add playbook", G_POLICY, 1, run_add_playbook,
	  "add a step to a playbook",
	  "Appends a step to the playbook of TRIGGER in the candidate.  When "
	  "the event happens the daemon runs the running config's steps in "
	  "order and audits each one's outcome; a failing step is audited "
	  "and the next one runs.  TRIGGER: quarantine, release, tag-added, "
	  "tag-removed, or tag-added:TAG / tag-removed:TAG for one tag.  "
	  "ACTION: snapshot, shutdown [force], pause, resume, audit, or run "
	  "[timeout SECONDS] /PATH/COMMAND [ARG...]: the command, started "
	  "without a shell, gets the event as one JSON object on its "
	  "standard input (default timeout 30 s).",
	  "add playbook tag-added:infected run /usr/local/bin/ticket --queue sec",
	  .args = {
		{ .meta = "TRIGGER", .kind = K_WORD, .noun = "trigger",
		  .help = "quarantine, release, tag-added[:TAG], "
		          "tag-removed[:TAG]" },
		{ .meta = "ACTION", .kind = K_CHOICE, .noun = "action",
		  .choices = "snapshot|shutdown|pause|resume|run|audit",
		  .help = "what the step does" },
		{ .meta = "ARGS", .kind = K_REST, .flags = F_OPT,
		  .help = "shutdown: force; run: [timeout SECONDS] COMMAND "
		          "[ARG...]" },
	  } },
	{ .head = "delete playbook", G_POLICY, 1, run_delete_playbook,
	  "delete a playbook step, or a whole playbook",
	  "Deletes step STEP of TRIGGER's playbook in the candidate (the "
	  "steps after it move up), or every step of it without STEP.",
	  "delete playbook quarantine 2",
	  .args = {
		{ .meta = "TRIGGER", .kind = K_WORD, .noun = "trigger",
		  .help = "the playbook's trigger" },
		{ .meta = "STEP", .kind = K_NUMBER, .flags = F_OPT,
		  .noun = "step", .help = "the step's number, as "
		          "'show playbooks' lists it" },
	  } },
	{ .head = "show playbooks", G_SHOW, 0, run_show_playbooks,
	  "list playbooks",
	  "Lists the playbooks of your candidate (or the running config): "
	  "per trigger, its numbered steps.",
	  "show playbooks" },
	{ .head = "snapshot", G_INVENTORY, 1, run_vm_snapshot,
	  "snapshot a running VM",
	  "Takes a libvirt snapshot of a running or paused VM: its memory "
	  "is written to a file under /var/lib/bulkhead/snapshots (or "
	  "$BULKHEAD_SNAPSHOT_DIR) while it runs on; 'virsh snapshot-list' "
	  "lists it.  Acts at once, audited.",
	  "snapshot web1 before-forensics",
	  .args = {
		P_WORKLOAD("the VM"),
		{ .meta = "NAME", .kind = K_WORD, .flags = F_OPT,
		  .noun = "snapshot name",
		  .help = "the snapshot's name (default bulkhead-TIME)" },
	  } },
	{ .head = "shutdown", G_INVENTORY, 1, run_vm_shutdown,
	  "shut a VM down",
	  "Asks a VM's guest to shut down (ACPI power button) and returns at "
	  "once; with force, powers it off at once (libvirt destroy).",
	  "shutdown web1 force",
	  .args = { P_WORKLOAD("the VM") },
	  .opts = {
		{ .kw = "force", .help = "power off now, as pulling the plug" },
	  } },
	{ .head = "pause", G_INVENTORY, 1, run_vm_pause,
	  "pause a running VM",
	  "Stops a VM's vCPUs; it keeps its memory and resumes where it was.",
	  "pause web1",
	  .args = { P_WORKLOAD("the VM") } },
	{ .head = "resume", G_INVENTORY, 1, run_vm_resume,
	  "resume a paused VM",
	  "Lets a paused VM run again.",
	  "resume web1",
	  .args = { P_WORKLOAD("the VM") } },
	{ .head = "explain", G_SHOW, 0, run_explain,
	  "which rule decides traffic from A to B",
	  "Evaluates the running config (or your candidate) over the inventory "
	  "as the kernel does, for a new flow from A to B: the source NIC's "
	  "check (spoof guard, then the sections in order, then the default) "
	  "and the destination NIC's, each with the rule that decides it; the "
	  "flow passes when both allow it.  A and B are workloads or addresses.  "
	  "Without 'proto' the flow is a ping (ICMP echo-request).",
	  "explain from web1 to db1 proto tcp port 5432",
	  .args = {
		{ .kw = "from", .help = "the sending end follows" },
		{ .meta = "A", .kind = K_NAME, .names = NAME_WORKLOAD,
		  .noun = "source", .help = "a workload or an address" },
		{ .kw = "to", .help = "the receiving end follows" },
		{ .meta = "B", .kind = K_NAME, .names = NAME_WORKLOAD,
		  .noun = "destination", .help = "a workload or an address" },
	  },
	  .opts = {
		{ .kw = "proto", .meta = "PROTO", .kind = K_CHOICE,
		  .choices = PROTOS, .noun = "protocol",
		  .help = "tcp, udp (with port), icmp or icmpv6 (echo)" },
		{ .kw = "port", .meta = "N", .kind = K_NUMBER, .noun = "port",
		  .help = "the destination port (tcp, udp)" },
		{ .kw = "candidate", .help = "your candidate instead" },
	  } },

	/* -- other -- */
	{ .head = "lab up", G_OTHER, 1, run_lab_up,
	  "build a lab of namespace workloads",
	  "Builds a lab for trying bulkhead on a machine with no VMs, in the "
	  "network namespace bulkhead runs in: a bridge PREFIX0 with no "
	  "address, and COUNT network namespaces PREFIX-1, PREFIX-2... each "
	  "holding one end of a veth pair (nic0, MAC 02:bd:00:00:00:0i, "
	  "10.213.0.(10+i)/24 and fd00:bd::(10+i)/64) whose host end PREFIXi "
	  "is a port of the bridge.  Each becomes a container workload PREFIXi "
	  "with its NIC, MAC and addresses, tagged lab and odd or even.  It "
	  "acts at once and needs root; if a step fails, what was made is "
	  "removed again.",
	  "lab up 4 prefix demo",
	  .args = {
		{ .meta = "COUNT", .kind = K_NUMBER, .flags = F_OPT,
		  .noun = "count",
		  .help = "how many workloads (default 4, at most 244)" },
	  },
	  .opts = {
		{ .kw = "prefix", .meta = "NAME", .kind = K_WORD,
		  .help = "names of the lab's objects (default "
		          LAB_PREFIX_DEFAULT ")" },
	  } },
	{ .head = "lab down", G_OTHER, 1, run_lab_down,
	  "remove a lab",
	  "Removes what 'lab up' made: the lab's workloads, the veth pairs, "
	  "the namespaces and the bridge.  Anything else is left alone, also a "
	  "namespace or bridge of the lab that holds interfaces the lab did "
	  "not make.  Needs root.",
	  "lab down prefix demo",
	  .opts = {
		{ .kw = "prefix", .meta = "NAME", .kind = K_WORD,
		  .help = "the lab's prefix (default " LAB_PREFIX_DEFAULT ")" },
	  } },
	{ .head = "help", G_OTHER, 0, run_help,
	  "list commands, or describe one",
	  "Without words, lists every command.  With the words of a command, "
	  "describes it with its arguments and an example.  In the shell, '?' "
	  "after any words shows what may come next, and TAB completes.",
	  "help add rule",
	  .args = {
		{ .meta = "COMMAND", .kind = K_COMMAND, .flags = F_OPT,
		  .help = "the command to describe" },
	  } },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* Help for the verbs that take an object word. */
static const struct {
	const char *verb;
	const char *help;
} verbs[] = {
	{ "add", "add a workload, NIC, address, tag, group, service, rule or "
	  "playbook step" },
	{ "delete", "delete an object" },
	{ "set", "change a group, service or rule, the default action, a "
	  "timeout or the quarantine allowance" },
	{ "show", "show objects, the config, its history or the audit log" },
	{ "lab", "build or remove a lab of namespace workloads" },
	{ "pin", "keep a learned or libvirt address" },
	{ "clear", "forget learned and libvirt addresses" },
};

static const char *const group_titles[G_COUNT] = {
	"inventory (acts at once)",
	"policy (edits your candidate; 'commit' applies it)",
	"config",
	"show",
	"other",
};

/* ---- table access ------------------------------------------------------ */

static size_t nparams(const struct param *v, size_t max)
{
	size_t n = 0;

	while (n < max && (v[n].kw || v[n].meta))
		n++;
	return n;
}

/* The verb and object of a head; object "" for one-word commands. */
static void head_split(const struct command *c, char *verb, size_t vlen,
                       const char **object)
{
	const char *sp = strchr(c->head, ' ');
	size_t n = sp ? (size_t)(sp - c->head) : strlen(c->head);

	snprintf(verb, vlen, "%.*s", (int)n, c->head);
	*object = sp ? sp + 1 : "";
}

static int is_verb(const struct command *c, const char *verb)
{
	size_t n = strlen(verb);

	return strncmp(c->head, verb, n) == 0 &&
	       (c->head[n] == ' ' || c->head[n] == '\0');
}

/* The distinct verbs, in table order. */
static void verb_list(struct strv *out)
{
	char verb[32];
	const char *obj;

	for (size_t i = 0; i < NCOMMANDS; i++) {
		head_split(&commands[i], verb, sizeof verb, &obj);
		if (!strv_contains(out, verb))
			strv_push(out, verb);
	}
}

/* The objects of @verb, in table order (empty for one-word commands). */
static void object_list(const char *verb, struct strv *out)
{
	char v[32];
	const char *obj;

	for (size_t i = 0; i < NCOMMANDS; i++) {
		head_split(&commands[i], v, sizeof v, &obj);
		if (strcmp(v, verb) == 0 && *obj)
			strv_push(out, obj);
	}
}

static const struct command *command_find(const char *verb,
                                          const char *object)
{
	char v[32];
	const char *obj;

	for (size_t i = 0; i < NCOMMANDS; i++) {
		head_split(&commands[i], v, sizeof v, &obj);
		if (strcmp(v, verb) == 0 && strcmp(obj, object ? object : "") == 0)
			return &commands[i];
	}
	return NULL;
}

/* The syntax of one parameter as usage shows it. */
static void param_syntax(const struct param *p, struct strbuf *sb)
{
	if (p->kw)
		sb_add(sb, p->kw);
	if (p->meta) {
		if (p->kw)
			sb_addc(sb, ' ');
		sb_add(sb, p->meta);
		/* F_ANY and F_NONE placeholders spell their lists out */
		if ((p->flags & F_LIST) && !(p->flags & (F_ANY | F_NONE)))
			sb_addf(sb, "[,%s...]", p->meta);
	}
}

/* "add rule SECTION ACTION from SRC to DST [service SVC[,SVC...]] ..." */
static void usage(const struct command *c, struct strbuf *sb)
{
	size_t na = nparams(c->args, MAXARGS), no = nparams(c->opts, MAXOPTS);
	int open = 0;

	sb_add(sb, c->head);
	for (size_t i = 0; i < na; i++) {
		sb_addc(sb, ' ');
		if (c->args[i].flags & F_OPT) {
			sb_addc(sb, '[');
			open++;
		}
		param_syntax(&c->args[i], sb);
	}
	while (open-- > 0)
		sb_addc(sb, ']');
	for (size_t i = 0; i < no; i++) {
		sb_add(sb, " [");
		param_syntax(&c->opts[i], sb);
		sb_addc(sb, ']');
	}
}

/* ---- token helpers ----------------------------------------------------- */

/* An unquoted token equal to @kw: only such tokens are keywords. */
static int is_kw(const struct token *t, const char *kw)
{
	return !t->quoted && strcmp(t->text, kw) == 0;
}

static int choice_has(const char *choices, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = choices; *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, word, n) == 0)
			return 1;
		p += len + (bar ? 1 : 0);
	}
	return 0;
}

static void choice_list(const char *choices, struct strv *out)
{
	char *dup = xstrdup(choices);

	for (char *p = dup, *save = NULL, *w; (w = strtok_r(p, "|", &save));
	     p = NULL)
		strv_push(out, w);
	free(dup);
}

/* " (did you mean "x"?)" or "" into @sb. */
static void add_suggestion(struct strbuf *sb, const char *word,
                           const struct strv *cands)
{
	const char *s = util_suggest_strv(word, cands);

	if (s && strcmp(s, word) != 0)
		sb_addf(sb, " (did you mean \"%s\"?)", s);
}

/* "; expected one of: a, b, c" (or "; expected a") into @sb. */
static void add_expected(struct strbuf *sb, const struct strv *cands)
{
	if (cands->n == 0)
		return;
	sb_add(sb, cands->n == 1 ? "; expected " : "; expected one of: ");
	strv_join(sb, cands, ", ");
}

/* ---- the walker -------------------------------------------------------- */

/* Where a peek stopped: what the next word could be. */
enum expect {
	EX_VERB,      /* a command word */
	EX_OBJECT,    /* the object after a verb */
	EX_NEXT,      /* positional args[argi], clauses, end */
	EX_VALUE,     /* the value of *vp (after a clause word or a ',') */
	EX_MATCH,     /* inside a match expression */
	EX_SERVICE,   /* inside PROTO [PORTS]... */
	EX_COMMAND,   /* help's command words */
};

/* States of a match expression (see match.h for the grammar). */
enum { M_TERM, M_VALUE, M_AFTER };

struct walk {
	struct bh *bh;
	int exec;                   /* 1: parse for real, 0: peek */
	const struct token *t;
	size_t n;
	const struct command *cmd;
	char verb[32];
	struct parse *p;            /* exec: filled */
	/* peek results */
	enum expect ex;
	size_t argi;
	unsigned used;              /* clauses given, by index */
	const struct param *vp;     /* EX_VALUE */
	int mstate;                 /* EX_MATCH */
	const char *mkey;           /*   M_VALUE: the key before */
	int mdepth;                 /*   open parentheses */
	int match_open;             /* EX_NEXT: a match ended at the end and
	                               could go on with and/or */
	const char *sproto;         /* EX_SERVICE: last protocol, NULL at start */
	int sports;                 /*   1 once its ports/type were given */
	int smore;                  /*   ports ended in ',' */
	const struct token *words;  /* EX_COMMAND */
	size_t nwords;
	struct strv listed;         /* EX_VALUE after ',': the items so far */
};

/* A grammar error, prefixed by the command head. */
static int gram_error(struct walk *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int gram_error(struct walk *w, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (w->cmd)
		sb_addf(&sb, "%s: ", w->cmd->head);
	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	bh_error(w->bh, "%s", sb_str(&sb));
	sb_free(&sb);
	return -1;
}

/* "... (usage: add group NAME ...)" */
static int missing(struct walk *w, const char *what, const char *after)
{
	struct strbuf u = STRBUF_INIT;
	int rc;

	usage(w->cmd, &u);
	if (after)
		rc = gram_error(w, "missing %s after \"%s\" (usage: %s)", what,
		                after, sb_str(&u));
	else
		rc = gram_error(w, "missing %s (usage: %s)", what, sb_str(&u));
	sb_free(&u);
	return rc;
}

/* The name a missing value goes by: the placeholder's first word
 * ("WORKLOAD" of "WORKLOAD[,WORKLOAD...]|none"). */
static void meta_word(const struct param *p, char *buf, size_t len)
{
	const char *m = p->meta ? p->meta : p->kw;
	size_t n = strcspn(m, (p->flags & (F_ANY | F_NONE)) ? " [|" : " [");

	snprintf(buf, len, "%.*s", (int)n, m);
}

/* Follow a match expression's tokens to find its state at their end. */
static void match_state(struct walk *w, const struct token *t, size_t n)
{
	static const char *const keys[] = { "tag", "name", "os", "host",
		"group" };
	int st = M_TERM, depth = 0;
	const char *key = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct token *k = &t[i];
		if (st == M_TERM) {
			if (is_kw(k, "not"))
				continue;
			if (is_kw(k, "(")) {
				depth++;
				continue;
			}
			st = M_AFTER;
			for (size_t j = 0; j < 5; j++)
				if (is_kw(k, keys[j])) {
					st = M_VALUE;
					key = keys[j];
				}
		} else if (st == M_VALUE) {
			st = M_AFTER;
		} else if (is_kw(k, "and") || is_kw(k, "or")) {
			st = M_TERM;
		} else if (is_kw(k, ")")) {
			depth--;
		}
	}
	w->mstate = st;
	w->mkey = key;
	w->mdepth = depth;
}

/* Follow PROTO [PORTS]... tokens for completion. */
static void service_state(struct walk *w, const struct token *t, size_t n)
{
	w->sproto = NULL;
	w->sports = 0;
	w->smore = 0;
	for (size_t i = 0; i < n; i++) {
		if (!t[i].quoted && choice_has(PROTOS, t[i].text) && !w->smore) {
			w->sproto = t[i].text;
			w->sports = 0;
		} else {
			size_t len = strlen(t[i].text);
			w->sports = 1;
			w->smore = len && t[i].text[len - 1] == ',';
		}
	}
}

/*
 * Read a list starting at t[*i]: a token ending in ',' (or followed by one
 * starting with ',') joins the next.  Returns 1 when the tokens ran out
 * after a ',' (the list goes on), else 0.
 */
static int take_list(struct walk *w, size_t *i, struct strbuf *text)
{
	size_t k = *i;

	sb_add(text, w->t[k].text);
	for (;;) {
		int more = text->len && text->s[text->len - 1] == ',';
		if (!more && k + 1 < w->n && !w->t[k + 1].quoted &&
		    w->t[k + 1].text[0] == ',')
			more = 1;
		if (!more)
			break;
		if (k + 1 >= w->n) {
			*i = k + 1;
			return 1;
		}
		sb_add(text, w->t[++k].text);
	}
	*i = k + 1;
	return 0;
}

/* Parse a whole number (@min or more) for parameter @p. */
static int take_number(struct walk *w, const struct param *p,
                       const char *s, int64_t min)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || !isdigit((unsigned char)*s) || *end || errno)
		return gram_error(w, "%s \"%s\" is not a number", p->noun, s);
	if (v < min)
		return gram_error(w, "%s %s is out of range (%" PRId64
		                  " or more)", p->noun, s, min);
	return 0;
}

/*
 * Take the value of @p at t[*i] into @v, advancing *i past it.  Returns 0
 * when taken, 1 when (peeking) the tokens ran out inside it and w->ex says
 * what could come next, -1 on error.
 */
static int take_value(struct walk *w, const struct param *p, size_t *i,
                      struct value *v)
{
	const struct token *t = &w->t[*i];
	size_t start = *i;
	char err[BH_ERR_MAX];

	v->set = 1;
	v->tok = t;
	/* "none" empties the clause's part; quoted, it is a name or text */
	if ((p->flags & F_NONE) && is_kw(t, "none") &&
	    !((p->flags & F_LIST) && *i + 1 < w->n && !w->t[*i + 1].quoted &&
	      w->t[*i + 1].text[0] == ',')) {
		v->none = 1;
		v->text = t->text;
		v->ntok = 1;
		(*i)++;
		return 0;
	}
	switch (p->kind) {
	case K_MATCH: {
		size_t used = 0;
		struct match *m = match_parse_tokens(t, w->n - *i, &used, err,
		                                     sizeof err);
		if (!m) {
			if (!w->exec) {
				match_state(w, t, w->n - *i);
				w->ex = EX_MATCH;
				*i = w->n;
				return 1;
			}
			/* `group "web": match: expected a value after "tag"...` */
			if (w->p->arg[0].set && w->cmd->args[0].noun)
				return bh_error(w->bh, "%s \"%s\": match: %s",
				                w->cmd->args[0].noun,
				                w->p->arg[0].text, err);
			return gram_error(w, "match: %s", err);
		}
		struct strbuf sb = STRBUF_INIT;
		match_format(m, &sb);
		match_free(m);
		v->own = xstrdup(sb_str(&sb));
		v->text = v->own;
		sb_free(&sb);
		*i += used;
		v->ntok = used;
		if (*i == w->n)
			w->match_open = 1;
		return 0;
	}
	case K_SERVICE_DEF:
	case K_COMMAND:
	case K_REST:
		v->ntok = w->n - *i;
		for (size_t k = *i; k < w->n; k++)
			strv_push(&v->list, w->t[k].text);
		*i = w->n;
		if (w->exec)
			return 0;
		if (p->kind == K_REST) {
			w->ex = EX_VALUE;
			w->vp = p;
		} else if (p->kind == K_SERVICE_DEF) {
			service_state(w, t, v->ntok);
			w->ex = EX_SERVICE;
		} else {
			w->words = t;
			w->nwords = v->ntok;
			w->ex = EX_COMMAND;
		}
		return 1;
	default:
		break;
	}

	if (p->flags & F_LIST) {
		struct strbuf text = STRBUF_INIT;
		int more = take_list(w, i, &text);
		char mw[64];

		v->ntok = *i - start;
		if (more) {
			if (!w->exec) {
				strv_split_commas(&w->listed, sb_str(&text));
				sb_free(&text);
				w->ex = EX_VALUE;
				w->vp = p;
				return 1;
			}
			meta_word(p, mw, sizeof mw);
			missing(w, mw, sb_str(&text));
			sb_free(&text);
			return -1;
		}
		strv_split_commas(&v->list, sb_str(&text));
		v->own = xstrdup(sb_str(&text));
		v->text = v->own;
		sb_free(&text);
		if (v->list.n == 0) {
			meta_word(p, mw, sizeof mw);
			return missing(w, mw, NULL);
		}
		if ((p->flags & F_ANY) && strv_contains(&v->list, "any")) {
			if (v->list.n > 1)
				return gram_error(w, "%s: \"any\" cannot be mixed "
				                  "with %s names", p->noun,
				                  p->names == NAME_SERVICE ?
				                  "service" : "group");
			strv_free(&v->list);
		}
		return 0;
	}

	v->text = t->text;
	v->ntok = 1;
	(*i)++;
	if (!w->exec)
		return 0;
	switch (p->kind) {
	case K_CHOICE:
		if (!choice_has(p->choices, t->text)) {
			struct strv cands = STRV_INIT;
			struct strbuf sb = STRBUF_INIT;
			choice_list(p->choices, &cands);
			sb_addf(&sb, "unknown %s \"%s\"", p->noun, t->text);
			add_suggestion(&sb, t->text, &cands);
			add_expected(&sb, &cands);
			gram_error(w, "%s", sb_str(&sb));
			sb_free(&sb);
			strv_free(&cands);
			return -1;
		}
		return 0;
	case K_NUMBER:
		return take_number(w, p, t->text, 1);
	case K_REVISION:
		return take_number(w, p, t->text, 0);
	case K_NAME:
		if (p->names == NAME_RULE)
			return take_number(w, p, t->text, 1);
		return 0;
	default:
		return 0;
	}
}

/* The clause of the command named by token @t, or -1. */
static int clause_find(const struct command *c, const struct token *t)
{
	size_t no = nparams(c->opts, MAXOPTS);

	if (t->quoted)
		return -1;
	for (size_t k = 0; k < no; k++)
		if (strcmp(c->opts[k].kw, t->text) == 0)
			return (int)k;
	return -1;
}

/* The index of the clause @k cannot come with, or -1. */
static int clause_excl(const struct command *c, size_t k)
{
	size_t no = nparams(c->opts, MAXOPTS);

	for (size_t j = 0; c->opts[k].excl && j < no; j++)
		if (strcmp(c->opts[j].kw, c->opts[k].excl) == 0)
			return (int)j;
	return -1;
}

/* 1 when clause @k may still come after the clauses @used. */
static int clause_open(const struct command *c, unsigned used, size_t k)
{
	int x = clause_excl(c, k);

	return !(used & (1u << k)) && !(x >= 0 && (used & (1u << x)));
}

/* A word where a clause was expected (or nothing more was). */
static int unknown_word(struct walk *w, const struct token *t)
{
	const struct command *c = w->cmd;
	size_t no = nparams(c->opts, MAXOPTS);
	struct strv cands = STRV_INIT;
	struct strbuf sb = STRBUF_INIT;
	int k = clause_find(c, t);

	if (k >= 0) {
		strv_free(&cands);
		return gram_error(w, "\"%s\" given twice", t->text);
	}
	for (size_t i = 0; i < no; i++)
		if (clause_open(c, w->used, i))
			strv_push(&cands, c->opts[i].kw);
	if (cands.n == 0) {
		usage(c, &sb);
		gram_error(w, "unexpected \"%s\" (usage: %s)", t->text,
		           sb_str(&sb));
	} else {
		sb_addf(&sb, "unknown word \"%s\"", t->text);
		add_suggestion(&sb, t->text, &cands);
		add_expected(&sb, &cands);
		gram_error(w, "%s", sb_str(&sb));
	}
	sb_free(&sb);
	strv_free(&cands);
	return -1;
}

/* Find the command named by the first tokens; sets w->cmd and *i. */
static int walk_head(struct walk *w, size_t *i)
{
	const struct token *t = w->t;
	struct strv cands = STRV_INIT;
	struct strbuf sb = STRBUF_INIT;
	int found = 0;

	if (w->n == 0) {
		w->ex = EX_VERB;
		return 1;
	}
	verb_list(&cands);
	for (size_t k = 0; k < cands.n; k++)
		if (is_kw(&t[0], cands.v[k]))
			found = 1;
	if (!found) {
		const char *s = util_suggest_strv(t[0].text, &cands);
		if (s && strcmp(s, t[0].text) != 0)
			bh_error(w->bh, "unknown command \"%s\" (did you mean "
			         "\"%s\"?)", t[0].text, s);
		else {
			sb_addf(&sb, "unknown command \"%s\"", t[0].text);
			add_expected(&sb, &cands);
			bh_error(w->bh, "%s", sb_str(&sb));
		}
		goto fail;
	}
	snprintf(w->verb, sizeof w->verb, "%s", t[0].text);
	strv_free(&cands);
	w->cmd = command_find(w->verb, NULL);
	if (w->cmd) {
		*i = 1;
		return 0;
	}
	object_list(w->verb, &cands);
	if (w->n == 1) {
		if (!w->exec) {
			w->ex = EX_OBJECT;
			strv_free(&cands);
			return 1;
		}
		sb_addf(&sb, "%s: missing OBJECT", w->verb);
		add_expected(&sb, &cands);
		bh_error(w->bh, "%s", sb_str(&sb));
		goto fail;
	}
	if (!t[1].quoted)
		w->cmd = command_find(w->verb, t[1].text);
	if (!w->cmd) {
		sb_addf(&sb, "%s: unknown object \"%s\"", w->verb, t[1].text);
		add_suggestion(&sb, t[1].text, &cands);
		add_expected(&sb, &cands);
		bh_error(w->bh, "%s", sb_str(&sb));
		goto fail;
	}
	strv_free(&cands);
	*i = 2;
	return 0;
fail:
	strv_free(&cands);
	sb_free(&sb);
	return -1;
}

/*
 * Walk the tokens of one command.  Returns 0 when every token was read
 * (exec: the parse is complete and checked; peek: w->ex says what may come
 * next), -1 on error with the message in bh->err.
 */
static int walk(struct walk *w)
{
	const struct command *c;
	size_t i = 0, na, argi = 0;
	int rc;

	rc = walk_head(w, &i);
	if (rc)
		return rc < 0 ? -1 : 0;
	c = w->cmd;
	if (w->p)
		w->p->cmd = c;
	na = nparams(c->args, MAXARGS);
	while (i < w->n) {
		const struct token *t = &w->t[i];
		const struct param *a = argi < na ? &c->args[argi] : NULL;
		struct value scratch = { 0 };
		struct value *v;
		int k;

		w->match_open = 0;
		if (a && !((a->flags & F_OPT) && clause_find(c, t) >= 0)) {
			if (!a->meta) {
				if (!is_kw(t, a->kw)) {
					struct strbuf u = STRBUF_INIT;
					usage(c, &u);
					gram_error(w, "expected \"%s\", not \"%s\" "
					           "(usage: %s)", a->kw, t->text,
					           sb_str(&u));
					sb_free(&u);
					return -1;
				}
				i++;
				argi++;
				continue;
			}
			v = w->p ? &w->p->arg[argi] : &scratch;
			rc = take_value(w, a, &i, v);
			if (!w->p) {
				strv_free(&scratch.list);
				free(scratch.own);
			}
			if (rc)
				return rc < 0 ? -1 : 0;
			argi++;
			continue;
		}
		k = clause_find(c, t);
		if (k < 0 || (w->used & (1u << k)))
			return unknown_word(w, t);
		if (!clause_open(c, w->used, (size_t)k))
			return gram_error(w, "\"%s\" and \"%s\" cannot both be "
			                  "given", c->opts[k].excl, t->text);
		w->used |= 1u << k;
		i++;
		v = w->p ? &w->p->opt[k] : &scratch;
		if (!c->opts[k].meta) {
			v->set = 1;
			v->tok = t;
			continue;
		}
		if (i == w->n) {
			char mw[64];
			if (!w->exec) {
				w->ex = EX_VALUE;
				w->vp = &c->opts[k];
				return 0;
			}
			meta_word(&c->opts[k], mw, sizeof mw);
			return missing(w, mw, c->opts[k].kw);
		}
		rc = take_value(w, &c->opts[k], &i, v);
		if (!w->p) {
			strv_free(&scratch.list);
			free(scratch.own);
		}
		if (rc)
			return rc < 0 ? -1 : 0;
	}
	w->argi = argi;
	w->ex = EX_NEXT;
	if (w->exec && argi < na && !(c->args[argi].flags & F_OPT)) {
		char mw[64];
		if (c->args[argi].meta)
			meta_word(&c->args[argi], mw, sizeof mw);
		else
			snprintf(mw, sizeof mw, "\"%s\"", c->args[argi].kw);
		return missing(w, mw, NULL);
	}
	return 0;
}

static void parse_free(struct parse *p)
{
	for (size_t i = 0; i < MAXARGS; i++) {
		strv_free(&p->arg[i].list);
		free(p->arg[i].own);
	}
	for (size_t i = 0; i < MAXOPTS; i++) {
		strv_free(&p->opt[i].list);
		free(p->opt[i].own);
	}
}

/* ---- handler helpers --------------------------------------------------- */

/* The value of the positional value @meta, or the clause @kw. */
static const struct value *val(const struct ctx *c, const char *name)
{
	const struct command *cmd = c->p->cmd;

	for (size_t i = 0; i < MAXARGS && (cmd->args[i].kw ||
	                                    cmd->args[i].meta); i++)
		if (cmd->args[i].meta && strcmp(cmd->args[i].meta, name) == 0)
			return &c->p->arg[i];
	for (size_t i = 0; i < MAXOPTS && cmd->opts[i].kw; i++)
		if (strcmp(cmd->opts[i].kw, name) == 0)
			return &c->p->opt[i];
	assert(!"no such parameter in the grammar table");
	return NULL;
}

/* Text of a value, NULL when not given. */
static const char *S(const struct ctx *c, const char *name)
{
	const struct value *v = val(c, name);

	return v->set ? v->text : NULL;
}

/* 1 when a flag or clause was given. */
static int F(const struct ctx *c, const char *name)
{
	return val(c, name)->set;
}

static const struct strv *L(const struct ctx *c, const char *name)
{
	return &val(c, name)->list;
}

static int64_t N(const struct ctx *c, const char *name)
{
	const char *s = S(c, name);

	return s ? strtoll(s, NULL, 10) : 0;
}

/* Copy @s into a fixed field, refusing what does not fit. */
static int copy_field(struct ctx *c, char *dst, size_t size,
                      const char *what, const char *s)
{
	if (!s)
		return 0;
	if (strlen(s) >= size)
		return bh_error(c->bh, "%s: %s \"%.40s...\" is too long (at most "
		                "%zu characters)", c->p->cmd->head, what, s,
		                size - 1);
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int name_check(struct ctx *c, const char *kind, const char *name)
{
	char err[BH_ERR_MAX];

	if (util_name_check(kind, name, err, sizeof err) < 0)
		return bh_error(c->bh, "%s", err);
	return 0;
}

/* The canonical form of an address for messages (the input if bad). */
static void addr_canon(const char *text, int prefix, char *buf, size_t len)
{
	int family;
	char err[256];

	if (util_addr_parse(text, prefix, buf, len, &family, err,
	                    sizeof err) < 0)
		snprintf(buf, len, "%s", text);
}

static void msg(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void msg(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sb_vaddf(&c->msg, fmt, ap);
	va_end(ap);
}

/* ---- handlers: inventory ----------------------------------------------- */

static int run_add_workload(struct ctx *c)
{
	struct workload w;
	const char *name = S(c, "NAME");
	int rc;

	memset(&w, 0, sizeof w);
	if (name_check(c, "workload", name) < 0)
		return -1;
	snprintf(w.name, sizeof w.name, "%s", name);
	if (copy_field(c, w.kind, sizeof w.kind, "kind", S(c, "kind")) < 0 ||
	    copy_field(c, w.os, sizeof w.os, "os", S(c, "os")) < 0 ||
	    copy_field(c, w.netns, sizeof w.netns, "netns", S(c, "netns")) < 0 ||
	    copy_field(c, w.host, sizeof w.host, "host", S(c, "host")) < 0 ||
	    copy_field(c, w.uuid, sizeof w.uuid, "uuid", S(c, "uuid")) < 0)
		return -1;
	snprintf(w.source, sizeof w.source, "static");
	if (c->o->idempotent && (rc = idem_workload(c->bh, &w, S(c, "kind"),
	                                            &c->msg)) != 0)
		return rc < 0 ? -1 : 0;
	if (policy_workload_add(c->bh, &w) < 0)
		return -1;
	msg(c, "workload \"%s\" added", name);
	return 0;
}

static int run_add_nic(struct ctx *c)
{
	struct nic nic;
	const char *wl = S(c, "WORKLOAD"), *ifname = S(c, "IFNAME");
	const struct strv *addrs = L(c, "address");
	char err[BH_ERR_MAX], canon[64];
	int rc;

	memset(&nic, 0, sizeof nic);
	if (util_ifname_check(ifname, err, sizeof err) < 0)
		return bh_error(c->bh, "%s", err);
	snprintf(nic.ifname, sizeof nic.ifname, "%s", ifname);
	if (S(c, "mac") && util_mac_parse(S(c, "mac"), nic.mac, sizeof nic.mac,
	                                  err, sizeof err) < 0)
		return bh_error(c->bh, "%s", err);
	for (size_t i = 0; i < addrs->n; i++) {
		addr_canon(addrs->v[i], 1, canon, sizeof canon);
		strv_push(&nic.addrs, canon);
	}
	if (c->o->idempotent &&
	    (rc = idem_nic(c->bh, wl, &nic, &c->msg)) != 0) {
		strv_free(&nic.addrs);
		return rc < 0 ? -1 : 0;
	}
	rc = policy_nic_add(c->bh, wl, &nic);
	strv_free(&nic.addrs);
	if (rc < 0)
		return -1;
	msg(c, "interface \"%s\" added to workload \"%s\"", ifname, wl);
	return 0;
}

static int run_add_address(struct ctx *c)
{
	const char *wl = S(c, "WORKLOAD"), *addr = S(c, "ADDR");
	char canon[64];
	int rc;

	if (c->o->idempotent && (rc = idem_address(c->bh, wl, addr,
	                                           S(c, "nic"), &c->msg)) != 0)
		return rc < 0 ? -1 : 0;
	if (policy_address_add(c->bh, wl, addr, S(c, "nic")) < 0)
		return -1;
	addr_canon(addr, 1, canon, sizeof canon);
	msg(c, "address %s added to workload \"%s\"", canon, wl);
	return 0;
}

static int run_delete_address(struct ctx *c)
{
	const char *wl = S(c, "WORKLOAD"), *addr = S(c, "ADDR");
	char canon[64];

	if (c->o->idempotent) {
		int r = idem_absent(c->bh, IDEM_ADDRESS, wl, addr, &c->msg);

		if (r)
			return r < 0 ? -1 : 0;
	}

	if (policy_address_delete(c->bh, wl, addr) < 0)
		return -1;
	addr_canon(addr, 1, canon, sizeof canon);
	msg(c, "address %s removed from workload \"%s\"", canon, wl);
	return 0;
}

static int run_set_addressing(struct ctx *c)
{
	const char *mode = S(c, "MODE"), *wl = S(c, "workload");

	if (!wl && strcmp(mode, "default") == 0)
		return bh_error(c->bh, "addressing default: name a workload "
		                "with 'workload NAME', or set the default to "
		                "static, libvirt, learn or libvirt,learn");
	if (policy_addressing_set(c->bh, wl, mode) < 0)
		return -1;
	if (!wl)
		msg(c, "default addressing is %s", mode);
	else if (strcmp(mode, "default") == 0)
		msg(c, "workload \"%s\" follows the default addressing", wl);
	else
		msg(c, "workload \"%s\" addressing is %s", wl, mode);
	return 0;
}

static int run_pin_address(struct ctx *c)
{
	const char *wl = S(c, "WORKLOAD"), *addr = S(c, "ADDR");
	char canon[64];

	if (policy_address_pin(c->bh, wl, addr) < 0)
		return -1;
	addr_canon(addr, 1, canon, sizeof canon);
	msg(c, "address %s of workload \"%s\" pinned", canon, wl);
	return 0;
}

static int run_clear_addresses(struct ctx *c)
{
	const char *wl = S(c, "WORKLOAD");
	size_t n;

	if (policy_address_clear(c->bh, wl, &n) < 0)
		return -1;
	if (wl)
		msg(c, "%zu address%s of workload \"%s\" cleared", n,
		    n == 1 ? "" : "es", wl);
	else
		msg(c, "%zu address%s cleared", n, n == 1 ? "" : "es");
	return 0;
}

/* Tags go where the workload keeps them (bh->tag_write: a libvirt VM's
 * domain metadata); the store alone when no one set the hook. */
static int tag_write(struct bh *bh, const char *wl, const char *tag, int add)
{
	if (bh->tag_write)
		return bh->tag_write(bh, wl, tag, add);
	return add ? policy_tag_add(bh, wl, tag) :
	             policy_tag_delete(bh, wl, tag);
}

/* The operational event of a tag change, for playbooks (held until an
 * all-or-nothing batch has succeeded). */
static void tag_event(struct ctx *c, const char *trigger, const char *wl,
                      const char *tag)
{
	struct strbuf sb = STRBUF_INIT;
	struct json j;

	json_init(&j, &sb);
	json_obj_begin(&j);
	json_kstr(&j, "tag", tag);
	json_kstr(&j, "by", c->bh->user);
	json_obj_end(&j);
	playbook_emit(c->bh, trigger, wl, sb_str(&sb));
	sb_free(&sb);
}

static int run_add_tag(struct ctx *c)
{
	const char *wl = S(c, "WORKLOAD"), *tag = S(c, "TAG");
	int rc;

	if (c->o->idempotent &&
	    (rc = idem_tag(c->bh, wl, tag, &c->msg)) != 0)
		return rc < 0 ? -1 : 0;
	if (tag_write(c->bh, wl, tag, 1) < 0)
		return -1;
	msg(c, "tag \"%s\" added to workload \"%s\"", tag, wl);
	tag_event(c, "tag-added", wl, tag);
	return 0;
}

static int run_delete_tag(struct ctx *c)
{
	const char *wl = S(c, "WORKLOAD"), *tag = S(c, "TAG");

	if (c->o->idempotent) {
		int r = idem_absent(c->bh, IDEM_TAG, wl, tag, &c->msg);

		if (r)
			return r < 0 ? -1 : 0;
	}

	if (tag_write(c->bh, wl, tag, 0) < 0)
		return -1;
	msg(c, "tag \"%s\" removed from workload \"%s\"", tag, wl);
	tag_event(c, "tag-removed", wl, tag);
	return 0;
}

static int run_quarantine(struct ctx *c)
{
	const char *wl = S(c, "WORKLOAD"), *reason = S(c, "reason");
	const char *dur = S(c, "for");
	int64_t secs = 0;
	char err[256], canon[32];

	if (dur && util_duration_parse(dur, &secs, err, sizeof err))
		return bh_error(c->bh, "quarantine %s: for \"%s\": %s", wl, dur,
		                err);
	if (policy_quarantine(c->bh, wl, reason, secs, "command") < 0)
		return -1;
	if (secs) {
		util_duration_format(secs, canon, sizeof canon);
		msg(c, "workload \"%s\" quarantined for %s", wl, canon);
	} else {
		msg(c, "workload \"%s\" quarantined", wl);
	}
	return 0;
}

/* The tag goes first (where it lives: the domain for a VM), which
 * releases what the tag started; then whatever quarantine is left. */
static int run_release(struct ctx *c)
{
	const char *wl = S(c, "WORKLOAD");
	struct workload w;
	int tagged, still = 1;

	if (policy_workload_get(c->bh, wl, &w) < 0)
		return -1;
	tagged = strv_contains(&w.tags, QUARANTINE_TAG);
	if (!w.quarantined && !tagged) {
		policy_workload_free(&w);
		return bh_error(c->bh, "workload \"%s\" is not in quarantine "
		                "('show quarantine' lists those that are)", wl);
	}
	policy_workload_free(&w);
	if (tagged) {
		if (tag_write(c->bh, wl, QUARANTINE_TAG, 0) < 0)
			return -1;
		if (policy_workload_get(c->bh, wl, &w) < 0)
			return -1;
		still = w.quarantined;
		policy_workload_free(&w);
	}
	if (still && policy_release(c->bh, wl, "command") < 0)
		return -1;
	msg(c, "workload \"%s\" released from quarantine%s", wl,
	    tagged ? " (tag \"" QUARANTINE_TAG "\" removed)" : "");
	return 0;
}

static int run_delete_workload(struct ctx *c)
{
	const char *wl = S(c, "WORKLOAD");

	if (c->o->idempotent) {
		int r = idem_absent(c->bh, IDEM_WORKLOAD, wl, NULL, &c->msg);

		if (r)
			return r < 0 ? -1 : 0;
	}

	if (policy_workload_delete(c->bh, wl) < 0)
		return -1;
	msg(c, "workload \"%s\" deleted", wl);
	return 0;
}

static int run_delete_nic(struct ctx *c)
{
	const char *ifname = S(c, "IFNAME");

	if (c->o->idempotent) {
		int r = idem_absent(c->bh, IDEM_NIC, ifname, NULL, &c->msg);

		if (r)
			return r < 0 ? -1 : 0;
	}

	if (policy_nic_delete(c->bh, ifname) < 0)
		return -1;
	msg(c, "interface \"%s\" deleted", ifname);
	return 0;
}

/* ---- handlers: policy -------------------------------------------------- */

/* Addresses or CIDRs of @in, canonical, appended to @out. */
static int cidr_list(struct ctx *c, const struct strv *in, struct strv *out)
{
	char canon[64], err[BH_ERR_MAX];
	int family;

	for (size_t i = 0; i < in->n; i++) {
		if (util_addr_parse(in->v[i], 1, canon, sizeof canon, &family,
		                    err, sizeof err) < 0)
			return bh_error(c->bh, "%s", err);
		strv_push(out, canon);
	}
	return 0;
}

/* "set group: nothing to change (usage: set group NAME ...)" */
static int nothing_to_change(struct ctx *c)
{
	struct strbuf u = STRBUF_INIT;

	usage(c->p->cmd, &u);
	bh_error(c->bh, "%s: nothing to change (usage: %s)", c->p->cmd->head,
	         sb_str(&u));
	sb_free(&u);
	return -1;
}

static int run_add_group(struct ctx *c)
{
	struct group g;
	const char *name = S(c, "NAME");
	int rc;

	memset(&g, 0, sizeof g);
	if (name_check(c, "group", name) < 0)
		return -1;
	snprintf(g.name, sizeof g.name, "%s", name);
	g.match = (char *)S(c, "match");
	strv_copy(&g.members, L(c, "member"));
	rc = cidr_list(c, L(c, "address"), &g.addresses);
	if (rc == 0 && c->o->idempotent &&
	    (rc = idem_group(c->bh, &g, &c->msg)) == 1) {
		strv_free(&g.members);
		strv_free(&g.addresses);
		return 0;
	}
	if (rc == 0)
		rc = policy_group_add(c->bh, &g);
	strv_free(&g.members);
	strv_free(&g.addresses);
	if (rc < 0)
		return -1;
	msg(c, "group \"%s\" added (candidate)", name);
	return 0;
}

static int run_set_group(struct ctx *c)
{
	struct group g;
	const char *name = S(c, "NAME");
	const struct value *m = val(c, "match"), *mem = val(c, "member"),
	                   *addr = val(c, "address");
	unsigned what = 0;
	int rc = 0;

	memset(&g, 0, sizeof g);
	if (name_check(c, "group", name) < 0)
		return -1;
	snprintf(g.name, sizeof g.name, "%s", name);
	if (m->set) {
		what |= GROUP_SET_MATCH;
		g.match = m->none ? NULL : (char *)m->text;
	}
	if (mem->set) {
		what |= GROUP_SET_MEMBERS;
		if (!mem->none)
			strv_copy(&g.members, &mem->list);
	}
	if (addr->set) {
		what |= GROUP_SET_ADDRESSES;
		if (!addr->none)
			rc = cidr_list(c, &addr->list, &g.addresses);
	}
	if (rc == 0 && !what && !F(c, "monitor") && !F(c, "enforce"))
		rc = nothing_to_change(c);
	if (rc == 0 && what)
		rc = policy_group_set(c->bh, &g, what);
	if (rc == 0 && (F(c, "monitor") || F(c, "enforce")))
		rc = policy_group_monitor_set(c->bh, name, F(c, "monitor"));
	strv_free(&g.members);
	strv_free(&g.addresses);
	if (rc < 0)
		return -1;
	if (F(c, "monitor"))
		msg(c, "group \"%s\": its rules monitor (candidate)", name);
	else if (F(c, "enforce") && !what)
		msg(c, "group \"%s\": its rules enforce (candidate)", name);
	else
		msg(c, "group \"%s\" changed (candidate)", name);
	return 0;
}

/*
 * The entries of the PROTO [PORTS] [PROTO [PORTS]]... words into @s
 * (s->e allocated: the caller frees it, also on failure).
 */
static int service_def(struct ctx *c, const char *name, struct service *s)
{
	const struct value *def = val(c, "PROTO [PORTS] [PROTO [PORTS]]...");
	const struct token *t = def->tok;
	char err[BH_ERR_MAX];

	s->e = xcalloc(def->ntok + 1, sizeof *s->e);
	for (size_t i = 0; i < def->ntok;) {
		struct service_entry *e = &s->e[s->ne++];
		struct strbuf ports = STRBUF_INIT;

		if (t[i].quoted || !choice_has(PROTOS, t[i].text)) {
			struct strv cands = STRV_INIT;
			struct strbuf sb = STRBUF_INIT;
			choice_list(PROTOS, &cands);
			sb_addf(&sb, "service \"%s\": unknown protocol \"%s\"", name,
			        t[i].text);
			add_suggestion(&sb, t[i].text, &cands);
			add_expected(&sb, &cands);
			bh_error(c->bh, "%s", sb_str(&sb));
			sb_free(&sb);
			strv_free(&cands);
			return -1;
		}
		snprintf(e->proto, sizeof e->proto, "%s", t[i].text);
		i++;
		/* Ports (or an ICMP type): every word up to the next protocol;
		 * "80, 443" is one list. */
		while (i < def->ntok && (t[i].quoted ||
		                         !choice_has(PROTOS, t[i].text))) {
			sb_add(&ports, t[i].text);
			i++;
		}
		if (ports.len == 0)
			continue;
		if (!strcmp(e->proto, "tcp") || !strcmp(e->proto, "udp")) {
			if (util_ports_parse(sb_str(&ports), e->ports,
			                     sizeof e->ports, err, sizeof err) < 0) {
				bh_error(c->bh, "service \"%s\": %s", name, err);
				sb_free(&ports);
				return -1;
			}
		} else if (ports.len >= sizeof e->ports ||
		           strchr(sb_str(&ports), ',')) {
			bh_error(c->bh, "service \"%s\": \"%s\" is not one ICMP type",
			         name, sb_str(&ports));
			sb_free(&ports);
			return -1;
		} else {
			snprintf(e->ports, sizeof e->ports, "%s", sb_str(&ports));
		}
		sb_free(&ports);
	}
	return 0;
}

/* add service and set service: one definition, new or replacing. */
static int service_run(struct ctx *c, int replace)
{
	struct service s;
	const char *name = S(c, "NAME");
	int rc;

	memset(&s, 0, sizeof s);
	if (name_check(c, "service", name) < 0)
		return -1;
	snprintf(s.name, sizeof s.name, "%s", name);
	rc = service_def(c, name, &s);
	if (rc == 0 && !replace && c->o->idempotent &&
	    (rc = idem_service(c->bh, &s, &c->msg)) == 1) {
		free(s.e);
		return 0;
	}
	if (rc == 0)
		rc = replace ? policy_service_set(c->bh, &s)
		             : policy_service_add(c->bh, &s);
	free(s.e);
	if (rc < 0)
		return -1;
	msg(c, "service \"%s\" %s (candidate)", name,
	    replace ? "changed" : "added");
	return 0;
}

static int run_add_service(struct ctx *c)
{
	return service_run(c, 0);
}

static int run_set_service(struct ctx *c)
{
	return service_run(c, 1);
}

static int run_add_rule(struct ctx *c)
{
	struct rule r, added;
	int64_t id = 0;
	int position;
	struct json j;

	memset(&r, 0, sizeof r);
	r.section = policy_section_parse(S(c, "SECTION"));
	r.action = policy_action_parse(S(c, "ACTION"));
	r.src = *L(c, "SRC");        /* borrowed: not freed here */
	r.dst = *L(c, "DST");
	r.services = *L(c, "service");
	r.applied = *L(c, "applied-to");
	r.log = F(c, "log");
	r.enabled = !F(c, "disabled");
	r.monitor = F(c, "monitor");
	r.comment = (char *)S(c, "comment");
	r.position = (int)N(c, "position");
	r.id = N(c, "id");
	if (c->o->idempotent) {
		int rc = idem_rule(c->bh, &r, &c->msg);

		if (rc < 0)
			return -1;
		if (rc == 1) {
			id = r.id;
			goto json;
		}
	}
	if (policy_rule_add(c->bh, &r, &id) < 0)
		return -1;
	/* The place it took: that one rule read back, not the whole
	 * candidate (a batch may add thousands). */
	position = r.position;
	if (policy_rule_get(c->bh, id, &added) == 0)
		position = added.position;
	policy_rule_free(&added);
	msg(c, "rule %" PRId64 " added to %s at position %d", id,
	    policy_section_name(r.section), position);
json:
	if (c->o->json) {
		json_init(&j, c->out);
		json_obj_begin(&j);
		json_kint(&j, "id", id);
		json_obj_end(&j);
		sb_addc(c->out, '\n');
	}
	return 0;
}

static int run_delete_rule(struct ctx *c)
{
	int64_t id = N(c, "ID");

	if (c->o->idempotent) {
		int r = idem_absent(c->bh, IDEM_RULE, S(c, "ID"), NULL, &c->msg);

		if (r)
			return r < 0 ? -1 : 0;
	}
	if (policy_rule_delete(c->bh, id) < 0)
		return -1;
	msg(c, "rule %" PRId64 " deleted (candidate)", id);
	return 0;
}

static int run_delete_group(struct ctx *c)
{
	const char *name = S(c, "NAME");

	if (c->o->idempotent) {
		int r = idem_absent(c->bh, IDEM_GROUP, name, NULL, &c->msg);

		if (r)
			return r < 0 ? -1 : 0;
	}
	if (policy_group_delete(c->bh, name) < 0)
		return -1;
	msg(c, "group \"%s\" deleted (candidate)", name);
	return 0;
}

static int run_delete_service(struct ctx *c)
{
	const char *name = S(c, "NAME");

	if (c->o->idempotent) {
		int r = idem_absent(c->bh, IDEM_SERVICE, name, NULL, &c->msg);

		if (r)
			return r < 0 ? -1 : 0;
	}
	if (policy_service_delete(c->bh, name) < 0)
		return -1;
	msg(c, "service \"%s\" deleted (candidate)", name);
	return 0;
}

static int run_set_default(struct ctx *c)
{
	const char *a = S(c, "allow|drop");
	int mon = F(c, "monitor");

	if (policy_default_set_mode(c->bh, policy_action_parse(a), mon) < 0)
		return -1;
	msg(c, "default action set to %s%s (candidate)", a,
	    mon ? " (monitor: logged and counted, not dropped)" : "");
	return 0;
}

/* A list clause of set rule into @dst (borrowed): @bit when it was given
 * ("any": an empty list), else 0. */
static unsigned rule_list(struct ctx *c, const char *kw, unsigned bit,
                          struct strv *dst)
{
	const struct value *v = val(c, kw);

	if (!v->set)
		return 0;
	*dst = v->list;
	return bit;
}

static int run_set_rule(struct ctx *c)
{
	struct rule r, moved;
	int64_t id = N(c, "ID");
	const struct value *com = val(c, "comment");
	unsigned what = 0;

	memset(&r, 0, sizeof r);
	r.id = id;
	if (F(c, "action")) {
		what |= RULE_SET_ACTION;
		r.action = policy_action_parse(S(c, "action"));
	}
	what |= rule_list(c, "from", RULE_SET_SRC, &r.src);
	what |= rule_list(c, "to", RULE_SET_DST, &r.dst);
	what |= rule_list(c, "service", RULE_SET_SERVICES, &r.services);
	what |= rule_list(c, "applied-to", RULE_SET_APPLIED, &r.applied);
	if (F(c, "log") || F(c, "nolog")) {
		what |= RULE_SET_LOG;
		r.log = F(c, "log");
	}
	if (F(c, "enabled") || F(c, "disabled")) {
		what |= RULE_SET_ENABLED;
		r.enabled = F(c, "enabled");
	}
	if (com->set) {
		what |= RULE_SET_COMMENT;
		r.comment = com->none ? NULL : (char *)com->text;
	}
	if (F(c, "monitor") || F(c, "enforce")) {
		what |= RULE_SET_MONITOR;
		r.monitor = F(c, "monitor");
	}
	if (F(c, "position")) {
		what |= RULE_SET_POSITION;
		r.position = (int)(N(c, "position") > INT_MAX ? INT_MAX :
		                   N(c, "position"));
	}
	if (F(c, "section")) {
		what |= RULE_SET_SECTION;
		r.section = policy_section_parse(S(c, "section"));
	}
	if (!what)
		return nothing_to_change(c);
	if (what == RULE_SET_ENABLED) {
		/* the short form of the first release, and a cheap edit */
		if (policy_rule_set_enabled(c->bh, id, r.enabled) < 0)
			return -1;
		msg(c, "rule %" PRId64 " %s (candidate)", id,
		    r.enabled ? "enabled" : "disabled");
		return 0;
	}
	if (policy_rule_set(c->bh, &r, what) < 0)
		return -1;
	memset(&moved, 0, sizeof moved);
	if ((what & (RULE_SET_POSITION | RULE_SET_SECTION)) &&
	    policy_rule_get(c->bh, id, &moved) == 0)
		msg(c, "rule %" PRId64 " changed, now in %s at position %d "
		    "(candidate)", id, policy_section_name(moved.section),
		    moved.position);
	else
		msg(c, "rule %" PRId64 " changed (candidate)", id);
	policy_rule_free(&moved);
	return 0;
}

static int run_set_timeout(struct ctx *c)
{
	const char *proto = S(c, "tcp|udp|icmp"), *d = S(c, "DURATION");
	char key[32], canon[32];
	int64_t secs;

	snprintf(key, sizeof key, "timeout-%s", proto);
	if (policy_setting_set(c->bh, key, d) < 0)
		return -1;
	if (util_duration_parse(d, &secs, NULL, 0) == 0)
		util_duration_format(secs, canon, sizeof canon);
	else
		snprintf(canon, sizeof canon, "%s", d);
	msg(c, "timeout %s set to %s (candidate)", proto, canon);
	return 0;
}

static int run_set_commit_comment(struct ctx *c)
{
	const char *v = S(c, "required|optional");

	if (policy_setting_set(c->bh, "commit-comment", v) < 0)
		return -1;
	msg(c, "commit comments %s (candidate)", v);
	return 0;
}

/* ---- handlers: config life cycle --------------------------------------- */

/* `commit confirmed`'s time: a bare number is minutes (as ever), a
 * number with s, m, h or d a duration; at most a week. */
static int confirm_time(struct ctx *c, const char *text, int64_t *secs)
{
	char err[256];

	if (*text && strspn(text, "0123456789") == strlen(text)) {
		if (strlen(text) > 6 || atoll(text) < 1 ||
		    atoll(text) > 7 * 24 * 60)
			return bh_error(c->bh, "commit: confirmed %s: give 1 to "
			                "%d minutes, or a duration such as 90s "
			                "or 2h (at most 7d)", text, 7 * 24 * 60);
		*secs = atoll(text) * 60;
		return 0;
	}
	if (util_duration_parse(text, secs, err, sizeof err) < 0)
		return bh_error(c->bh, "commit: confirmed %s: %s", text, err);
	if (*secs > 7 * 24 * 3600)
		return bh_error(c->bh, "commit: confirmed %s is too long (at "
		                "most 7d, a week)", text);
	return 0;
}

static int run_commit(struct ctx *c)
{
	struct candidate_state before;
	int64_t rev = 0, secs = 0;
	const char *conf = S(c, "confirmed");
	struct strbuf warn = STRBUF_INIT;
	char when[32];
	struct json j;

	if (conf && confirm_time(c, conf, &secs) < 0)
		return -1;
	if (F(c, "check")) {
		int kernel = 0;
		if (secs || S(c, "comment") || F(c, "force"))
			return bh_error(c->bh, "commit check: changes nothing, so "
			                "'confirmed', 'comment' and 'force' do not "
			                "go with it");
		if (policy_commit_check(c->bh, &kernel) < 0)
			return -1;
		msg(c, "check passed: %s", kernel ?
		    "the kernel would take this config; nothing was changed" :
		    "the config is consistent (the kernel was not asked: "
		    "not root); nothing was changed");
		return 0;
	}
	memset(&before, 0, sizeof before);
	if (policy_candidate_state(c->bh, &before) < 0)
		return -1;
	if (access_commit_check(c->bh, F(c, "force"), secs > 0, &warn) < 0) {
		sb_free(&warn);
		return -1;
	}
	if (warn.len)
		msg(c, "%s\n", sb_str(&warn));
	if (policy_commit_secs(c->bh, S(c, "comment"), (int)secs, &rev) < 0) {
		sb_free(&warn);
		return -1;
	}
	if (rev > before.running_rev) {
		msg(c, "committed revision %" PRId64, rev);
		if (secs % 60 == 0 && strspn(conf ? conf : "", "0123456789") ==
		    strlen(conf ? conf : ""))
			snprintf(when, sizeof when, "%" PRId64 " minute%s",
			         secs / 60, secs == 60 ? "" : "s");
		else
			util_duration_format(secs, when, sizeof when);
		if (secs)
			msg(c, "; 'confirm' within %s or it is rolled back",
			    when);
	} else {
		msg(c, "no changes; running config is revision %" PRId64, rev);
	}
	if (c->o->json) {
		json_init(&j, c->out);
		json_obj_begin(&j);
		json_kint(&j, "revision", rev);
		if (warn.len)       /* without the "warning: " of the text */
			json_kstr(&j, "warning", sb_str(&warn) + 9);
		json_obj_end(&j);
		sb_addc(c->out, '\n');
	}
	sb_free(&warn);
	return 0;
}

static int run_confirm(struct ctx *c)
{
	struct revision *rv = NULL;
	size_t n = 0;
	int64_t pending = -1;

	if (policy_history(c->bh, &rv, &n) == 0) {
		for (size_t i = 0; i < n && pending < 0; i++)
			if (rv[i].confirm_deadline)
				pending = rv[i].rev;
		policy_history_free(rv, n);
	}
	if (policy_confirm(c->bh) < 0)
		return -1;
	if (pending >= 0)
		msg(c, "revision %" PRId64 " confirmed", pending);
	else
		msg(c, "nothing to confirm");
	return 0;
}

static int run_discard(struct ctx *c)
{
	struct candidate_state st;

	memset(&st, 0, sizeof st);
	if (policy_candidate_state(c->bh, &st) < 0)
		return -1;
	if (!st.exists) {
		msg(c, "nothing to discard");
		return 0;
	}
	if (policy_discard(c->bh) < 0)
		return -1;
	msg(c, "candidate discarded (%d change%s dropped)", st.changes,
	    st.changes == 1 ? "" : "s");
	return 0;
}

static int run_rollback(struct ctx *c)
{
	int64_t rev = N(c, "REVISION");

	if (policy_rollback(c->bh, rev) < 0)
		return -1;
	msg(c, "candidate loaded from revision %" PRId64 "; review with "
	    "'show diff', apply with 'commit'", rev);
	return 0;
}

/* ---- handlers: show, help ---------------------------------------------- */

static int run_set_quarantine(struct ctx *c)
{
	const char *g = S(c, "GROUP");
	const struct value *v = val(c, "service");

	if (!v->set)
		return bh_error(c->bh, "set quarantine allow %s: say which "
		                "services ('service https,http') or 'service "
		                "none' to remove the allowance", g);
	if (v->none) {
		if (policy_quarantine_allow_set(c->bh, g, NULL) < 0)
			return -1;
		msg(c, "quarantine allowance of group \"%s\" removed "
		    "(candidate)", g);
		return 0;
	}
	if (policy_quarantine_allow_set(c->bh, g, &v->list) < 0)
		return -1;
	msg(c, "quarantined workloads may reach group \"%s\" on %s "
	    "(candidate)", g, v->text);
	return 0;
}

static int run_show_quarantine(struct ctx *c)
{
	return show_quarantine(c->bh, c->o, F(c, "history"), c->out);
}

static int run_show_workloads(struct ctx *c)
{
	return show_workloads(c->bh, c->o, c->out);
}

static int run_show_workload(struct ctx *c)
{
	return show_workload(c->bh, c->o, S(c, "WORKLOAD"), c->out);
}

static int run_show_groups(struct ctx *c)
{
	return show_groups(c->bh, c->o, c->out);
}

static int run_show_group(struct ctx *c)
{
	return show_group(c->bh, c->o, S(c, "NAME"), c->out);
}

static int run_show_services(struct ctx *c)
{
	return show_services(c->bh, c->o, c->out);
}

static int run_show_rules(struct ctx *c)
{
	return show_rules(c->bh, c->o, c->out);
}

static int run_show_ruleset(struct ctx *c)
{
	return show_ruleset(c->bh, c->o, F(c, "candidate"), c->out);
}

static int run_show_counters(struct ctx *c)
{
	int64_t since = 0;

	if (S(c, "since") && since_parse(c, S(c, "since"), &since) < 0)
		return -1;
	if (F(c, "unused"))
		return flowlog_show_unused(c->bh, c->o, since, c->out);
	return show_counters(c->bh, c->o, c->out);
}

static int run_show_status(struct ctx *c)
{
	return show_status(c->bh, c->o, c->out);
}

static int run_explain(struct ctx *c)
{
	struct explain_query q;
	struct explain_result r;
	struct config cfg;
	struct inventory inv;
	int64_t port = N(c, "port");
	int rc;

	memset(&q, 0, sizeof q);
	q.from = S(c, "A");
	q.to = S(c, "B");
	q.proto = S(c, "proto");
	q.port = port > 65535 ? 65536 : (int)port;
	if (policy_config_load(c->bh, F(c, "candidate") ? CONFIG_CANDIDATE :
	                       CONFIG_RUNNING, &cfg) < 0)
		return -1;
	if (policy_inventory_load(c->bh, &inv) < 0) {
		policy_config_free(&cfg);
		return -1;
	}
	rc = explain_run(&cfg, &inv, &q, &r, c->bh->err, sizeof c->bh->err);
	if (rc == 0) {
		if (c->o->json)
			explain_json(&r, c->out);
		else
			explain_text(&r, c->out);
	}
	explain_free(&r);
	policy_inventory_free(&inv);
	policy_config_free(&cfg);
	return rc;
}

static int run_show_config(struct ctx *c)
{
	return show_config(c->bh, c->o, F(c, "candidate"), c->out);
}

static int run_show_diff(struct ctx *c)
{
	const struct value *a = &c->p->arg[0], *b = &c->p->arg[1];
	int64_t from = -1, to = -1;

	if (a->set)
		from = strtoll(a->text, NULL, 10);
	if (b->set)
		to = strtoll(b->text, NULL, 10);
	return show_diff(c->bh, c->o, from, to, c->out);
}

static int run_show_history(struct ctx *c)
{
	return show_history(c->bh, c->o, c->out);
}

/* "2h" back from now, or local midnight of "2026-11-27". */
static int since_parse(struct ctx *c, const char *s, int64_t *ms)
{
	int64_t secs;
	struct tm tm;
	char *end;

	if (util_duration_parse(s, &secs, NULL, 0) == 0) {
		*ms = util_now_ms() - secs * 1000;
		return 0;
	}
	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end && *end == ' ')
		end = strptime(end + 1, "%H:%M", &tm);
	if (!end || *end)
		return bh_error(c->bh, "show audit: since \"%s\": use a duration "
		                "(30m, 2h, 7d) or a date (2026-11-27)", s);
	tm.tm_isdst = -1;
	*ms = (int64_t)mktime(&tm) * 1000;
	return 0;
}

static int run_show_audit(struct ctx *c)
{
	struct audit_filter f;

	memset(&f, 0, sizeof f);
	f.user = S(c, "user");
	f.contains = S(c, "contains");
	f.failed_only = F(c, "failed");
	f.limit = (int)(N(c, "last") > 1000000 ? 1000000 : N(c, "last"));
	if (S(c, "since") && since_parse(c, S(c, "since"), &f.since_ms) < 0)
		return -1;
	return show_audit(c->bh, c->o, &f, c->out);
}

/* The flow log's filters from a command's clauses. */
static void flow_filter_get(struct ctx *c, struct flow_filter *f, int all)
{
	memset(f, 0, sizeof *f);
	f->workload = S(c, "workload");
	f->denied = F(c, "denied");
	if (!all)
		return;      /* monitor flows: no last, no after */
	f->last = (size_t)(N(c, "last") > 1000000 ? 1000000 : N(c, "last"));
	f->after = (uint64_t)N(c, "after");
}

static int run_show_flows(struct ctx *c)
{
	struct flow_filter f;
	int64_t since = util_now_ms() - 24 * 3600 * 1000LL;

	if (F(c, "active"))
		return show_flows(c->bh, c->o, c->out);
	if (F(c, "history")) {
		if (S(c, "since") && since_parse(c, S(c, "since"), &since) < 0)
			return -1;
		return flowlog_show_history(c->bh, c->o, since, c->out);
	}
	/* No daemon keeps a flow log here: a plain `show flows` as root
	 * still answers, with what the kernel knows (the live flows), and
	 * says where the log is.  Filters only the log can answer stay an
	 * error that says so. */
	if (!c->bh->flowlog && c->bh->enforcer && !S(c, "workload") &&
	    !F(c, "denied") && !N(c, "last") && !N(c, "after")) {
		if (!c->o->json)
			sb_add(c->out, "(no flow log: it is kept by 'bulkhead "
			       "daemon'; these are the kernel's live flows, as "
			       "'show flows active' lists them)\n");
		return show_flows(c->bh, c->o, c->out);
	}
	flow_filter_get(c, &f, 1);
	return flowlog_show(c->bh, c->o, &f, c->out);
}

static int run_monitor_flows(struct ctx *c)
{
	struct flow_filter f;

	if (!c->bh->flowlog)
		return bh_error(c->bh, "monitor flows: the flow log is kept by "
		                "the daemon, and none with a flow log serves "
		                "this store: start 'bulkhead daemon' as root");
	flow_filter_get(c, &f, 0);
	if (!c->o->json)
		sb_add(c->out, "monitoring flows (Ctrl-C to stop)\n");
	return flowlog_watch_request(c->bh->flowlog, c->o->json, &f);
}

static int run_suggest_rules(struct ctx *c)
{
	int64_t since = util_now_ms() - 24 * 3600 * 1000LL;

	if (S(c, "since") && since_parse(c, S(c, "since"), &since) < 0)
		return -1;
	return flowlog_suggest(c->bh, c->o, since, S(c, "group"), c->out);
}

/* ---- handlers: the lab -------------------------------------------------- */

static const char *lab_prefix(struct ctx *c)
{
	return S(c, "prefix") ? S(c, "prefix") : LAB_PREFIX_DEFAULT;
}

static int run_lab_up(struct ctx *c)
{
	int64_t n = S(c, "COUNT") ? N(c, "COUNT") : LAB_COUNT_DEFAULT;

	if (n > LAB_COUNT_MAX)
		n = LAB_COUNT_MAX + 1;     /* lab_up words the range */
	return lab_up(c->bh, lab_prefix(c), (int)n, &c->msg);
}

static int run_lab_down(struct ctx *c)
{
	return lab_down(c->bh, lab_prefix(c), &c->msg);
}

static int run_show_lab(struct ctx *c)
{
	struct lab_state st;
	struct json j;
	char status[128];

	if (lab_state(c->bh, lab_prefix(c), &st) < 0)
		return -1;
	if (c->o->json) {
		json_init(&j, c->out);
		json_obj_begin(&j);
		json_key(&j, "lab");
		json_obj_begin(&j);
		json_kstr(&j, "prefix", st.prefix);
		json_key(&j, "bridge");
		json_obj_begin(&j);
		json_kstr(&j, "name", st.bridge);
		json_kbool(&j, "exists", st.bridge_exists);
		json_kbool(&j, "up", st.bridge_up);
		json_obj_end(&j);
		json_key(&j, "workloads");
		json_arr_begin(&j);
		for (size_t k = 0; k < st.n; k++) {
			const struct lab_member *m = &st.m[k];

			lab_member_status(m, status, sizeof status);
			json_obj_begin(&j);
			json_kstr(&j, "name", m->workload);
			json_kbool(&j, "registered", m->registered);
			json_kstr(&j, "netns", m->netns);
			json_kbool(&j, "netns_exists", m->netns_exists);
			json_kstr(&j, "link", m->link);
			json_kbool(&j, "link_exists", m->link_exists);
			json_kbool(&j, "link_up", m->link_up);
			json_kbool(&j, "bridged", m->bridged);
			json_kstr(&j, "mac", m->mac[0] ? m->mac : NULL);
			json_key(&j, "addresses");
			json_strv(&j, &m->addrs);
			json_key(&j, "tags");
			json_strv(&j, &m->tags);
			json_kstr(&j, "status", status);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		json_obj_end(&j);
		sb_addc(c->out, '\n');
	} else if (!st.bridge_exists && !st.n) {
		sb_addf(c->out, "no lab \"%s\" (make one with 'lab up')\n",
		        st.prefix);
	} else {
		struct strbuf a = STRBUF_INIT, t = STRBUF_INIT;
		int wn = 8, wl = 5, wa = 9, wt = 4;

		for (size_t k = 0; k < st.n; k++) {
			const struct lab_member *m = &st.m[k];
			sb_reset(&a);
			strv_join(&a, &m->addrs, ",");
			sb_reset(&t);
			strv_join(&t, &m->tags, ",");
			if ((int)strlen(m->workload) > wn)
				wn = (int)strlen(m->workload);
			if ((int)strlen(m->netns) > wl)
				wl = (int)strlen(m->netns);
			if ((int)a.len > wa)
				wa = (int)a.len;
			if ((int)t.len > wt)
				wt = (int)t.len;
		}
		sb_addf(c->out, "lab \"%s\": bridge %s %s\n", st.prefix,
		        st.bridge, !st.bridge_exists ? "missing" :
		        st.bridge_up ? "up" : "down");
		sb_addf(c->out, "%-*s  %-*s  %-17s  %-*s  %-*s  STATUS\n", wn,
		        "WORKLOAD", wl, "NETNS", "MAC", wa, "ADDRESSES", wt,
		        "TAGS");
		for (size_t k = 0; k < st.n; k++) {
			const struct lab_member *m = &st.m[k];

			lab_member_status(m, status, sizeof status);
			sb_reset(&a);
			strv_join(&a, &m->addrs, ",");
			sb_reset(&t);
			strv_join(&t, &m->tags, ",");
			sb_addf(c->out, "%-*s  %-*s  %-17s  %-*s  %-*s  %s\n", wn,
			        m->workload, wl, m->netns, m->mac[0] ? m->mac : "-",
			        wa, a.len ? sb_str(&a) : "-", wt,
			        t.len ? sb_str(&t) : "-", status);
		}
		sb_free(&a);
		sb_free(&t);
	}
	lab_state_free(&st);
	return 0;
}

static int run_help(struct ctx *c)
{
	struct strbuf words = STRBUF_INIT;
	const struct strv *w = L(c, "COMMAND");
	int rc;

	for (size_t i = 0; i < w->n; i++) {
		if (i)
			sb_addc(&words, ' ');
		sb_add_word(&words, w->v[i]);
	}
	rc = cmd_help(c->bh, sb_str(&words), c->out);
	sb_free(&words);
	return rc;
}

/* ---- execution ---------------------------------------------------------- */

static int is_blank_c(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
	       ch == '\v' || ch == '\f';
}

/* Offset just past the token that starts at @off (as tokenize() reads it). */
static size_t token_end(const char *line, size_t off)
{
	size_t i = off;

	if (strchr("();", line[i]))
		return i + 1;
	while (line[i] && !is_blank_c((unsigned char)line[i]) &&
	       !strchr("();", line[i])) {
		char q = line[i++];
		if (q != '"' && q != '\'')
			continue;
		while (line[i] && line[i] != q) {
			if (q == '"' && line[i] == '\\' && line[i + 1])
				i++;
			i++;
		}
		if (line[i])
			i++;
	}
	return i;
}

/* The command as typed, for the audit log: from its first token to the
 * end of its last, line breaks folded to one blank. */
static char *command_text(const char *line, const struct token *t,
                          size_t n)
{
	size_t from = (size_t)t[0].col - 1;
	size_t to = token_end(line, (size_t)t[n - 1].col - 1);
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = from; i < to; i++) {
		if (line[i] == '\n' || line[i] == '\r') {
			while (sb.len && is_blank_c((unsigned char)sb.s[sb.len - 1]))
				sb.len--;
			while (i + 1 < to && is_blank_c((unsigned char)line[i + 1]))
				i++;
			sb_addc(&sb, ' ');
			continue;
		}
		sb_addc(&sb, line[i]);
	}
	sb_add(&sb, "");
	return sb.s;
}

/* Write an audit record without disturbing bh->err. */
static void audit(struct bh *bh, const char *text, int ok,
                  const char *detail)
{
	char saved[BH_ERR_MAX];

	memcpy(saved, bh->err, sizeof saved);
	policy_audit_record(bh, text, ok, detail);
	memcpy(bh->err, saved, sizeof saved);
}

/* Parse and run one command: tokens t[0..n) of @line. */
static int exec_one(struct bh *bh, const struct cmd_opts *o,
                    const char *line, const struct token *t, size_t n,
                    struct strbuf *out)
{
	struct parse p;
	struct walk w;
	struct ctx c;
	char *text = command_text(line, t, n);
	int audited = !is_kw(&t[0], "show") && !is_kw(&t[0], "help");
	size_t mark = out->len;
	int rc;

	memset(&p, 0, sizeof p);
	memset(&w, 0, sizeof w);
	memset(&c, 0, sizeof c);
	w.bh = bh;
	w.exec = 1;
	w.t = t;
	w.n = n;
	w.p = &p;
	bh->err[0] = '\0';
	rc = walk(&w);
	if (rc == 0) {
		c.bh = bh;
		c.o = o;
		c.p = &p;
		c.out = out;
		audited = p.cmd->changes;
		rc = p.cmd->run(&c);
	}
	if (rc < 0) {
		/* nothing half-printed */
		out->len = mark;
		if (out->s)
			out->s[mark] = '\0';
	}
	if (audited)
		audit(bh, text, rc == 0, rc == 0 ? sb_str(&c.msg) : bh->err);
	if (rc == 0 && !o->json && c.msg.len)
		sb_addf(out, "%s\n", sb_str(&c.msg));
	sb_free(&c.msg);
	parse_free(&p);
	free(text);
	return rc;
}

/*
 * Run the commands of @line in order (';' separates them), each parsed
 * against the table, run and, unless it is a show or help, audited.  Stops
 * at the first failure: -1 with the message in bh->err.  The output of the
 * commands that ran is appended to @out (none of the failing one's).
 */
int cmd_exec(struct bh *bh, const struct cmd_opts *o, const char *line,
             struct strbuf *out)
{
	struct tokv tv = TOKV_INIT;
	char err[BH_ERR_MAX];
	size_t start = 0;
	int rc = 0;

	if (tokenize(line, &tv, err, sizeof err) < 0) {
		/* Audit unless it plainly was a show or help. */
		char word[16] = "";
		sscanf(line, " %15s", word);
		tokv_free(&tv);   /* the array may be allocated even on failure */
		bh_error(bh, "%s", err);
		if (strcmp(word, "show") != 0 && strcmp(word, "help") != 0)
			audit(bh, line, 0, err);
		return -1;
	}
	for (size_t i = 0; i <= tv.n && rc == 0; i++) {
		if (i < tv.n && !is_kw(&tv.v[i], ";"))
			continue;
		if (i > start)
			rc = exec_one(bh, o, line, &tv.v[start], i - start, out);
		start = i + 1;
	}
	tokv_free(&tv);
	return rc;
}

/* ---- what may come next: completion and `?` --------------------------- */

/* One thing that may come next. */
struct item {
	const char *word;         /* a keyword, or NULL for a value */
	const struct param *p;    /* the value (or the keyword's param) */
	const char *help;
};

struct items {
	struct item v[64];
	size_t n;
	int cr;                   /* the command may end here */
	const struct strv *listed;  /* items of a list going on */
};

static void item_add(struct items *it, const char *word,
                     const struct param *p, const char *help)
{
	if (it->n < sizeof it->v / sizeof it->v[0])
		it->v[it->n++] = (struct item){ word, p, help };
}

/* Placeholders of match expressions and service definitions. */
static const struct param m_tag = { .meta = "TAG", .kind = K_NAME,
	.names = NAME_TAG, .help = "a tag" };
static const struct param m_group = { .meta = "GROUP", .kind = K_NAME,
	.names = NAME_GROUP, .help = "a group" };
static const struct param m_name = { .meta = "GLOB", .kind = K_NAME,
	.names = NAME_WORKLOAD, .help = "workload names (shell glob)" };
static const struct param m_glob = { .meta = "GLOB", .kind = K_WORD,
	.help = "a shell glob, quoted when it has * or ?" };
static const struct param s_proto = { .meta = "PROTO", .kind = K_CHOICE,
	.choices = PROTOS, .help = "tcp, udp, icmp or icmpv6" };
static const struct param s_ports = { .meta = "PORTS", .kind = K_WORD,
	.help = "ports: 443, 8000-8080,9000 (none: all)" };
static const struct param s_icmp = { .meta = "TYPE", .kind = K_CHOICE,
	.choices = ICMP_TYPES, .help = "ICMP type (none: all)" };
static const struct param s_icmp6 = { .meta = "TYPE", .kind = K_CHOICE,
	.choices = ICMPV6_TYPES, .help = "ICMPv6 type (none: all)" };

/* The unused clauses and the end, after positionals are done. */
static void next_clauses(const struct walk *w, struct items *it)
{
	const struct command *c = w->cmd;
	size_t no = nparams(c->opts, MAXOPTS);

	for (size_t k = 0; k < no; k++)
		if (clause_open(c, w->used, k))
			item_add(it, c->opts[k].kw, &c->opts[k], c->opts[k].help);
	it->cr = 1;
}

static void next_service(const struct walk *w, struct items *it)
{
	if (w->sproto && w->smore) {
		item_add(it, NULL, &s_ports, s_ports.help);
		return;
	}
	if (w->sproto && !w->sports) {
		if (!strcmp(w->sproto, "icmp"))
			item_add(it, NULL, &s_icmp, s_icmp.help);
		else if (!strcmp(w->sproto, "icmpv6"))
			item_add(it, NULL, &s_icmp6, s_icmp6.help);
		else
			item_add(it, NULL, &s_ports, s_ports.help);
	}
	item_add(it, NULL, &s_proto, w->sproto ? "another protocol" :
	         s_proto.help);
	it->cr = w->sproto != NULL;
}

static int next_items(struct bh *bh, const struct token *t, size_t n,
                      struct walk *w, struct items *it);

/* help's words: the command heads. */
static void next_command(struct bh *bh, const struct token *t, size_t n,
                         struct items *it)
{
	struct walk hw;
	struct items sub;

	if (n < 2 && next_items(bh, t, n, &hw, &sub) == 0 &&
	    (hw.ex == EX_VERB || hw.ex == EX_OBJECT)) {
		memcpy(it->v, sub.v, sub.n * sizeof sub.v[0]);
		it->n = sub.n;
	}
	strv_free(&hw.listed);
	it->cr = 1;
}

/* Collect what may follow the tokens @t[0..n) of one command. */
static int next_items(struct bh *bh, const struct token *t, size_t n,
                      struct walk *w, struct items *it)
{
	struct strv names = STRV_INIT;

	memset(w, 0, sizeof *w);
	memset(it, 0, sizeof *it);
	w->bh = bh;
	w->t = t;
	w->n = n;
	if (walk(w) < 0)
		return -1;
	switch (w->ex) {
	case EX_VERB:
		/* the verbs with objects, and the one-word commands */
		for (size_t i = 0; i < NCOMMANDS; i++) {
			const struct command *c = &commands[i];
			const char *word = c->head, *help = c->summary;
			for (size_t k = 0; k < sizeof verbs / sizeof verbs[0]; k++)
				if (is_verb(c, verbs[k].verb)) {
					word = verbs[k].verb;
					help = verbs[k].help;
				}
			if (!strv_contains(&names, word)) {
				strv_push(&names, word);
				item_add(it, word, NULL, help);
			}
		}
		break;
	case EX_OBJECT:
		for (size_t i = 0; i < NCOMMANDS; i++)
			if (is_verb(&commands[i], w->verb) &&
			    strchr(commands[i].head, ' '))
				item_add(it, strchr(commands[i].head, ' ') + 1, NULL,
				         commands[i].summary);
		break;
	case EX_NEXT: {
		const struct command *c = w->cmd;
		size_t na = nparams(c->args, MAXARGS);
		if (w->match_open) {
			item_add(it, "and", NULL, "both must hold");
			item_add(it, "or", NULL, "either may hold");
		}
		if (w->argi < na) {
			const struct param *a = &c->args[w->argi];
			if (a->kind == K_SERVICE_DEF) {
				next_service(w, it);
				break;
			}
			if (a->kind == K_COMMAND) {
				next_command(bh, NULL, 0, it);
				break;
			}
			item_add(it, a->meta ? NULL : a->kw, a, a->help);
			if (a->flags & F_OPT)
				next_clauses(w, it);
		} else {
			next_clauses(w, it);
		}
		break;
	}
	case EX_VALUE:
		if (w->vp->kind != K_MATCH) {
			item_add(it, NULL, w->vp, w->vp->help);
			it->listed = &w->listed;
			break;
		}
		w->mstate = M_TERM;     /* `match` just typed */
		if (w->vp->flags & F_NONE)
			item_add(it, "none", NULL, "no match expression");
		/* fall through */
	case EX_MATCH:
		if (w->mstate == M_TERM) {
			item_add(it, "tag", NULL, "workloads with a tag");
			item_add(it, "name", NULL, "workloads whose name matches");
			item_add(it, "os", NULL, "workloads whose OS matches");
			item_add(it, "host", NULL, "workloads on matching hosts");
			item_add(it, "group", NULL, "members of another group");
			item_add(it, "not", NULL, "the opposite of what follows");
			item_add(it, "(", NULL, "group terms");
		} else if (w->mstate == M_VALUE) {
			const struct param *p = !strcmp(w->mkey, "tag") ? &m_tag :
				!strcmp(w->mkey, "group") ? &m_group :
				!strcmp(w->mkey, "name") ? &m_name : &m_glob;
			item_add(it, NULL, p, p->help);
		} else {
			item_add(it, "and", NULL, "both must hold");
			item_add(it, "or", NULL, "either may hold");
			if (w->mdepth > 0)
				item_add(it, ")", NULL, "end the group of terms");
		}
		break;
	case EX_SERVICE:
		next_service(w, it);
		break;
	case EX_COMMAND:
		next_command(bh, w->words, w->nwords, it);
		break;
	}
	strv_free(&names);
	return 0;
}

/* Split @line into the complete part and the word being typed (after the
 * last blank, '(' ')' or ';'). */
static const char *partial_word(const char *line)
{
	const char *p = line + strlen(line);

	while (p > line && !is_blank_c((unsigned char)p[-1]) &&
	       !strchr("();", p[-1]))
		p--;
	return p;
}

/* Tokens of the last command of @line (after its last ';'). */
static int last_command(const char *line, size_t len, struct tokv *tv,
                        size_t *start, char *err, size_t errlen)
{
	char *head = xmalloc(len + 1);
	int rc;

	memcpy(head, line, len);
	head[len] = '\0';
	rc = tokenize(head, tv, err, errlen);
	free(head);
	if (rc < 0) {
		tokv_free(tv);
		return -1;
	}
	*start = 0;
	for (size_t i = 0; i < tv->n; i++)
		if (is_kw(&tv->v[i], ";"))
			*start = i + 1;
	return 0;
}

static void add_candidates(struct bh *bh, const struct item *it,
                           const struct strv *listed, const char *prefix,
                           struct strv *out)
{
	const struct param *p = it->p;
	struct strv cands = STRV_INIT, given = STRV_INIT;
	const char *pre = prefix;
	size_t lead = 0;

	if (it->word) {
		if (!strncmp(it->word, prefix, strlen(prefix)))
			strv_push(out, it->word);
		return;
	}
	if (!p)
		return;
	/* "web,ap": complete the item after the last ',' */
	if (p->flags & F_LIST) {
		const char *comma = strrchr(prefix, ',');
		if (comma) {
			lead = (size_t)(comma - prefix) + 1;
			pre = comma + 1;
		}
	}
	switch (p->kind) {
	case K_CHOICE:
		choice_list(p->choices, &cands);
		break;
	case K_NAME:
		policy_names(bh, (enum name_kind)p->names, &cands);
		break;
	case K_REVISION: {
		struct revision *rv = NULL;
		size_t n = 0;
		if (policy_history(bh, &rv, &n) == 0) {
			for (size_t i = 0; i < n; i++) {
				char b[24];
				snprintf(b, sizeof b, "%" PRId64, rv[i].rev);
				strv_push(&cands, b);
			}
			policy_history_free(rv, n);
		}
		break;
	}
	default:
		break;
	}
	if ((p->flags & F_ANY) && lead == 0 && !(listed && listed->n))
		strv_push(&cands, "any");
	if ((p->flags & F_NONE) && lead == 0 && !(listed && listed->n))
		strv_push(&cands, "none");
	for (size_t i = 0; listed && i < listed->n; i++)
		strv_push(&given, listed->v[i]);
	if (lead) {
		char *head = xmalloc(lead + 1);
		memcpy(head, prefix, lead);
		head[lead] = '\0';
		strv_split_commas(&given, head);
		free(head);
	}
	for (size_t i = 0; i < cands.n; i++) {
		struct strbuf sb = STRBUF_INIT;
		if (strncmp(cands.v[i], pre, strlen(pre)) != 0 ||
		    strv_contains(&given, cands.v[i]))
			continue;
		sb_addn(&sb, prefix, lead);
		sb_add(&sb, cands.v[i]);
		strv_push(out, sb_str(&sb));
		sb_free(&sb);
	}
	strv_free(&cands);
	strv_free(&given);
}

/*
 * The words that may replace the one being typed at the end of @line
 * (its tail after the last blank, '(', ')' or ';'), appended to @out
 * sorted and unique; object names come from policy_names().  A line that
 * cannot be parsed simply has no completions.  Always returns 0.
 */
int cmd_changes(const char *line)
{
	struct tokv tv = TOKV_INIT;
	char err[BH_ERR_MAX];
	int changes = 0;

	/* A line that does not tokenize changes nothing; a line of several
	 * commands changes something when any of them does. */
	if (tokenize(line, &tv, err, sizeof err) == 0) {
		int first = 1;
		for (size_t i = 0; i < tv.n; i++) {
			if (!tv.v[i].quoted && strcmp(tv.v[i].text, ";") == 0) {
				first = 1;
				continue;
			}
			if (first && !is_kw(&tv.v[i], "show") &&
			    !is_kw(&tv.v[i], "help"))
				changes = 1;
			first = 0;
		}
	}
	tokv_free(&tv);
	return changes;
}

int cmd_complete(struct bh *bh, const char *line, struct strv *out)
{
	const char *prefix = partial_word(line);
	struct tokv tv = TOKV_INIT;
	struct walk w;
	struct items it;
	char err[BH_ERR_MAX];
	size_t start;

	if (last_command(line, (size_t)(prefix - line), &tv, &start, err,
	                 sizeof err) < 0)
		return 0;
	if (next_items(bh, tv.v + start, tv.n - start, &w, &it) == 0) {
		for (size_t i = 0; i < it.n; i++)
			add_candidates(bh, &it.v[i], it.listed, prefix, out);
	}
	strv_free(&w.listed);
	tokv_free(&tv);
	strv_uniq(out);
	return 0;
}

/*
 * `?`: append to @out what may come next after @line, one "  word  help"
 * line each (values as their placeholder, "<cr>" when the command may end
 * there), or the parse error that stops it.  Always returns 0.
 */
int cmd_help_next(struct bh *bh, const char *line, struct strbuf *out)
{
	const char *prefix = partial_word(line);
	struct tokv tv = TOKV_INIT;
	struct walk w;
	struct items it;
	struct strv left = STRV_INIT, right = STRV_INIT;
	char err[BH_ERR_MAX];
	size_t start, wmax = 0;

	if (last_command(line, (size_t)(prefix - line), &tv, &start, err,
	                 sizeof err) < 0) {
		sb_addf(out, "  %s\n", err);
		return 0;
	}
	if (next_items(bh, tv.v + start, tv.n - start, &w, &it) < 0) {
		sb_addf(out, "  %s\n", bh->err);
		strv_free(&w.listed);
		tokv_free(&tv);
		return 0;
	}
	for (size_t i = 0; i < it.n; i++) {
		const struct item *x = &it.v[i];
		struct strbuf l = STRBUF_INIT;
		if (x->word) {
			sb_add(&l, x->word);
			if (x->p && x->p->meta) {
				sb_addc(&l, ' ');
				sb_add(&l, x->p->meta);
			}
		} else {
			struct strbuf s = STRBUF_INIT;
			param_syntax(x->p, &s);
			sb_add(&l, sb_str(&s));
			sb_free(&s);
		}
		/* with a word being typed, keep only what it can begin */
		if (*prefix && x->word &&
		    strncmp(sb_str(&l), prefix, strlen(prefix)) != 0) {
			sb_free(&l);
			continue;
		}
		if (strv_contains(&left, sb_str(&l))) {
			sb_free(&l);
			continue;
		}
		if (strlen(sb_str(&l)) > wmax)
			wmax = strlen(sb_str(&l));
		strv_push(&left, sb_str(&l));
		strv_push(&right, x->help ? x->help : "");
		sb_free(&l);
	}
	if (it.cr && !*prefix) {
		strv_push(&left, "<cr>");
		strv_push(&right, "run the command");
		if (wmax < 4)
			wmax = 4;
	}
	if (left.n == 0)
		sb_add(out, "  (nothing fits here)\n");
	for (size_t i = 0; i < left.n; i++)
		sb_addf(out, "  %-*s  %s\n", (int)wmax, left.v[i], right.v[i]);
	strv_free(&left);
	strv_free(&right);
	strv_free(&w.listed);
	tokv_free(&tv);
	return 0;
}

/* ---- help ----------------------------------------------------------------- */

/*
 * Append @text wrapped at 78 columns: the first line after @first (already
 * written, of width @col), continuation lines indented by @indent.  Breaks
 * fall on blanks outside brackets, so "[service SVC[,SVC...]]" stays whole.
 */
static void wrap(struct strbuf *out, const char *text, size_t col,
                 size_t indent)
{
	const char *p = text;

	while (*p) {
		const char *q = p, *brk = NULL;
		int depth = 0;
		/* the longest run from p that fits */
		for (; *q; q++) {
			if (*q == '[')
				depth++;
			else if (*q == ']')
				depth--;
			else if (*q == ' ' && depth == 0) {
				if (col + (size_t)(q - p) > 78 && brk)
					break;
				brk = q;
			}
		}
		if (!*q && (col + (size_t)(q - p) <= 78 || !brk))
			brk = q;
		sb_addn(out, p, (size_t)(brk - p));
		if (!*brk)
			break;
		sb_addf(out, "\n%*s", (int)indent, "");
		col = indent;
		p = brk + 1;
	}
}

/* "  add rule SECTION ACTION ..." wrapped under its arguments. */
static void usage_line(const struct command *c, struct strbuf *out,
                       size_t indent)
{
	struct strbuf u = STRBUF_INIT;

	usage(c, &u);
	sb_addf(out, "%*s", (int)indent, "");
	wrap(out, sb_str(&u), indent, indent + strlen(c->head) + 1);
	sb_addc(out, '\n');
	sb_free(&u);
}

/* Everything about one command: usage, description, arguments, example. */
static void help_command(const struct command *c, struct strbuf *out)
{
	size_t na = nparams(c->args, MAXARGS), no = nparams(c->opts, MAXOPTS);
	struct strv left = STRV_INIT, right = STRV_INIT;
	size_t wmax = 0;

	sb_add(out, "usage: ");
	{
		struct strbuf u = STRBUF_INIT;
		usage(c, &u);
		wrap(out, sb_str(&u), 7, 7 + strlen(c->head) + 1);
		sb_addc(out, '\n');
		sb_free(&u);
	}
	sb_add(out, "\n  ");
	wrap(out, c->desc, 2, 2);
	sb_add(out, "\n\n");
	for (size_t i = 0; i < na; i++)
		if (c->args[i].meta) {
			struct strbuf l = STRBUF_INIT;
			param_syntax(&c->args[i], &l);
			strv_push(&left, sb_str(&l));
			strv_push(&right, c->args[i].help);
			sb_free(&l);
		}
	for (size_t i = 0; i < no; i++) {
		struct strbuf l = STRBUF_INIT;
		param_syntax(&c->opts[i], &l);
		strv_push(&left, sb_str(&l));
		strv_push(&right, c->opts[i].help);
		sb_free(&l);
	}
	for (size_t i = 0; i < left.n; i++)
		if (strlen(left.v[i]) > wmax)
			wmax = strlen(left.v[i]);
	for (size_t i = 0; i < left.n; i++)
		sb_addf(out, "  %-*s  %s\n", (int)wmax, left.v[i], right.v[i]);
	if (left.n)
		sb_addc(out, '\n');
	sb_addf(out, "example:\n  %s\n", c->example);
	strv_free(&left);
	strv_free(&right);
}

/*
 * `help`: the grouped overview of every command; `help VERB`: that verb's
 * commands; `help VERB OBJECT`: one command's usage, description,
 * arguments and example.  Unknown words: -1 with the message in bh->err.
 */
int cmd_help(struct bh *bh, const char *words, struct strbuf *out)
{
	struct tokv tv = TOKV_INIT;
	struct walk w;
	char err[BH_ERR_MAX];
	const struct command *only = NULL;
	size_t nmatch = 0;
	char verb[32];
	const char *obj;

	if (tokenize(words ? words : "", &tv, err, sizeof err) < 0) {
		tokv_free(&tv);
		return bh_error(bh, "help: %s", err);
	}
	if (tv.n == 0) {
		tokv_free(&tv);
		for (int g = 0; g < G_COUNT; g++) {
			sb_addf(out, "%s%s:\n", g ? "\n" : "", group_titles[g]);
			for (size_t i = 0; i < NCOMMANDS; i++)
				if (commands[i].group == g)
					usage_line(&commands[i], out, 2);
		}
		sb_add(out, "\nIn the shell: 'exit' or 'quit' leaves, TAB completes, "
		       "'?' after any words shows\nwhat may come next.  "
		       "'help COMMAND' describes a command, e.g. 'help add rule'.\n");
		return 0;
	}
	/* Find the command(s) the words name: the verb alone names all its
	 * objects; words past the head are ignored. */
	memset(&w, 0, sizeof w);
	w.bh = bh;
	w.exec = 1;
	w.t = tv.v;
	w.n = tv.n;
	if (tv.n == 1) {
		for (size_t i = 0; i < NCOMMANDS; i++)
			if (is_verb(&commands[i], tv.v[0].text) && !tv.v[0].quoted) {
				nmatch++;
				only = &commands[i];
			}
	}
	if (nmatch == 0) {
		size_t i;
		if (walk_head(&w, &i) < 0) {
			tokv_free(&tv);
			return bh_error(bh, "help: %s", bh->err);
		}
		only = w.cmd;
		nmatch = 1;
	}
	tokv_free(&tv);
	if (nmatch == 1) {
		help_command(only, out);
		return 0;
	}
	/* several: the verb's commands, one usage and summary each */
	head_split(only, verb, sizeof verb, &obj);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (is_verb(&commands[i], verb)) {
			usage_line(&commands[i], out, 0);
			sb_addf(out, "    %s\n", commands[i].summary);
		}
	sb_add(out, "\n'help COMMAND' describes one, e.g. 'help ");
	sb_add(out, only->head);
	sb_add(out, "'\n");
	return 0;
}

/*
 * Append bh->err as the user sees it, newline included: "error: MSG",
 * "WHERE: MSG" for a batch file, or {"error":MSG[,"where":WHERE]} in JSON.
 */
void cmd_format_error(const struct bh *bh, const struct cmd_opts *o,
                      const char *where, struct strbuf *out)
{
	struct json j;

	if (o && o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_kstr(&j, "error", bh->err);
		if (where)
			json_kstr(&j, "where", where);
		json_obj_end(&j);
		sb_addc(out, '\n');
		return;
	}
	if (where)
		sb_addf(out, "%s: %s\n", where, bh->err);
	else
		sb_addf(out, "error: %s\n", bh->err);
}

/* ---- handlers: playbooks and VM actions ----------------------------------- */

static int run_add_playbook(struct ctx *c)
{
	const char *trigger = S(c, "TRIGGER"), *action = S(c, "ACTION");
	int seq;

	if (playbook_step_add(c->bh, trigger, action, L(c, "ARGS"), &seq) < 0)
		return -1;
	msg(c, "playbook %s step %d added (candidate)", trigger, seq);
	return 0;
}

static int run_delete_playbook(struct ctx *c)
{
	const char *trigger = S(c, "TRIGGER");
	int seq = S(c, "STEP") ? (int)N(c, "STEP") : 0;

	if (playbook_step_delete(c->bh, trigger, seq) < 0)
		return -1;
	if (seq)
		msg(c, "playbook %s step %d deleted (candidate)", trigger, seq);
	else
		msg(c, "playbook %s deleted (candidate)", trigger);
	return 0;
}

static int run_show_playbooks(struct ctx *c)
{
	return playbook_show(c->bh, c->o->json, c->out);
}

static int vm_action(struct ctx *c, enum virt_vm_op op, const char *name)
{
	struct virt *v = engine_virt(c->bh);
	char result[1024];

	if (!v || virt_vm_action(v, S(c, "WORKLOAD"), op, name, result,
	                         sizeof result) < 0)
		return -1;
	msg(c, "%s", result);
	return 0;
}

static int run_vm_snapshot(struct ctx *c)
{
	return vm_action(c, VIRT_VM_SNAPSHOT, S(c, "NAME"));
}

static int run_vm_shutdown(struct ctx *c)
{
	return vm_action(c, F(c, "force") ? VIRT_VM_DESTROY : VIRT_VM_SHUTDOWN,
	                 NULL);
}

static int run_vm_pause(struct ctx *c)
{
	return vm_action(c, VIRT_VM_PAUSE, NULL);
}

static int run_vm_resume(struct ctx *c)
{
	return vm_action(c, VIRT_VM_RESUME, NULL);
}
