/*
 * show_playbook.c - `show playbooks` (layer: front end): the playbooks of
 * the acting user's candidate view, as text or JSON.  See playbook.h.
 */
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "playbook.h"

int playbook_show(struct bh *bh, int json, struct strbuf *out)
{
	struct playbook_step *s;
	size_t n;

	if (playbook_list(bh, CONFIG_CANDIDATE, &s, &n))
		return -1;
	if (json) {
		struct json j;

		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "playbooks");
		json_arr_begin(&j);
		for (size_t i = 0; i < n; i++) {
			json_obj_begin(&j);
			json_kstr(&j, "trigger", s[i].trigger);
			json_kint(&j, "step", s[i].seq);
			json_kstr(&j, "action", s[i].action);
			json_kstr(&j, "arg", s[i].arg);
			if (strcmp(s[i].action, "run") == 0)
				json_kint(&j, "timeout", s[i].timeout_s);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		sb_addc(out, '\n');
	} else if (n == 0) {
		sb_add(out, "no playbooks (add a step with 'add playbook "
		       "TRIGGER ACTION')\n");
	}
	for (size_t i = 0; i < n && !json; i++) {
		if (i == 0 || strcmp(s[i].trigger, s[i - 1].trigger) != 0)
			sb_addf(out, "%s\n", s[i].trigger);
		sb_addf(out, "  %d  %s", s[i].seq, s[i].action);
		if (*s[i].arg)
			sb_addf(out, " %s", s[i].arg);
		if (strcmp(s[i].action, "run") == 0)
			sb_addf(out, "  (timeout %ds)", s[i].timeout_s);
		sb_addc(out, '\n');
	}
	playbook_steps_free(s, n);
	return 0;
}
