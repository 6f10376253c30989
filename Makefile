# bulkhead - build, test, install.
#
#   make                 build ./bulkhead
#   make test            build and run the Tcl test suite (as root for the
#                        kernel and libvirt tests)
#   make test SANITIZE=1 the same under AddressSanitizer + UBSan (build-san/)
#   make bench           benchmarks (not part of the tests)
#   make deps            install the Debian packages the build and tests need
#   make install         install the binary, man pages and hooks under PREFIX
#   make clean

-include config.mk
PREFIX ?= /usr/local
SANITIZE ?= 0

CC ?= cc
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wno-unused-parameter
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Iinclude -I$(B) \
             $(PKG_CFLAGS)
LDLIBS = $(PKG_LIBS) -lm

ifeq ($(SANITIZE),1)
B = build-san
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer \
      -fno-sanitize-recover=undefined
ALL_CFLAGS += $(SAN)
LDFLAGS += $(SAN)
BIN = $(B)/bulkhead
else
B = build
BIN = bulkhead
endif

# src/tcl*.c are the testfixture's Tcl commands, linked only into it.
TCL_OBJ = $(patsubst %.c,$(B)/%.o,$(wildcard src/tcl*.c))
ENGINE_SRC = $(filter-out src/main.c src/tcl%.c, $(wildcard src/*.c)) \
             $(wildcard tui/*.c)
ENGINE_OBJ = $(patsubst %.c,$(B)/%.o,$(ENGINE_SRC)) $(B)/schema.o
HDRS = $(wildcard include/*.h) $(wildcard tui/*.h)
SQL = $(sort $(wildcard sql/*.sql))

all: config.mk $(BIN)

config.mk:
	./configure

# The binary loads libvirt itself when it first needs it (libvirt.c):
# linking it would cost every process start, the qemu hook's included,
# about 9 ms of dynamic loading.  The testfixture links it (tclvirt.c),
# and so does the sanitizer build: AddressSanitizer binds its XDR
# interceptors at start, and libvirt's RPC (libtirpc's xdr_*) loaded later
# would call through their still-empty pointers.
ifeq ($(SANITIZE),1)
BIN_LIBS = $(PKG_LIBS) -ldl -lm
else
BIN_LIBS = $(filter-out -lvirt,$(PKG_LIBS)) -ldl -lm
endif

$(BIN): $(B)/src/main.o $(B)/libbulkhead.a
	$(CC) $(LDFLAGS) -o $@ $^ $(BIN_LIBS)

$(B)/testfixture: $(TCL_OBJ) $(B)/libbulkhead.a
	$(CC) $(LDFLAGS) -o $@ $^ $(TCL_LIBS) $(LDLIBS)

$(B)/libbulkhead.a: $(ENGINE_OBJ)
	rm -f $@
	ar rcs $@ $^

# The testfixture's Tcl commands: the only objects that see Tcl's headers.
$(TCL_OBJ): $(B)/src/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TCL_CFLAGS) -c -o $@ $<

$(B)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The SQL files, in name order, become one C string: the store runs the
# statements of each migration whose number is above PRAGMA user_version.
$(B)/schema.c: $(SQL) sql/embed.sh
	@mkdir -p $(B)
	sh sql/embed.sh $(SQL) > $@

$(B)/schema.o: $(B)/schema.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

test: config.mk $(BIN) $(B)/testfixture
	BULKHEAD=$(abspath $(BIN)) ASAN_OPTIONS=detect_leaks=1 \
	  $(B)/testfixture test/all.tcl

bench: config.mk $(BIN)
	BULKHEAD=$(abspath $(BIN)) sh test/bench/run.sh
	BULKHEAD=$(abspath $(BIN)) sh test/bench/quarantine.sh

deps:
	./configure --install-deps

# The systemd unit goes where systemd looks for units of PREFIX
# (/usr/local/lib/systemd/system by default); `systemctl daemon-reload`,
# then `systemctl enable --now bulkhead`.
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
# libvirt's qemu hook goes into hooks/qemu.d/ (libvirt >= 6.5), never over
# a hooks/qemu that may be someone else's.  libvirtd sees a hook that was
# not there when it started only after a reload (SIGHUP).
LIBVIRT_HOOKDIR ?= /etc/libvirt/hooks

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 \
	  $(DESTDIR)$(PREFIX)/share/man/man7 $(DESTDIR)$(SYSTEMDDIR) \
	  $(DESTDIR)$(LIBVIRT_HOOKDIR)/qemu.d
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/bulkhead
	install -m 644 man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 man/*.7 $(DESTDIR)$(PREFIX)/share/man/man7/
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' src/bulkhead.service \
	  > $(DESTDIR)$(SYSTEMDDIR)/bulkhead.service
	chmod 644 $(DESTDIR)$(SYSTEMDDIR)/bulkhead.service
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' src/qemu-hook.sh \
	  > $(DESTDIR)$(LIBVIRT_HOOKDIR)/qemu.d/bulkhead
	chmod 755 $(DESTDIR)$(LIBVIRT_HOOKDIR)/qemu.d/bulkhead
	@v=$$(libvirtd --version 2>/dev/null | awk '{print $$NF}'); \
	case "$$v" in [0-5].*|6.[0-4].*) echo "warning: libvirt $$v runs" \
	  "$(LIBVIRT_HOOKDIR)/qemu only, not qemu.d/: call" \
	  "$(LIBVIRT_HOOKDIR)/qemu.d/bulkhead from it" >&2 ;; esac
	@echo "libvirt hook installed; reload libvirtd to enable it" \
	  "(systemctl reload libvirtd, or kill -HUP its pid)"

clean:
	rm -rf build build-san bulkhead

distclean: clean
	rm -f config.mk

.PHONY: all test bench deps install clean distclean
