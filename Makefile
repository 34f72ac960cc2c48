# git rapido — build, install, test, demo, bench.
#
#   make demo    install what is missing, build git-rapido, run it end to end on a real kernel
#   make test    install what is missing and run every test tier (unit, hermetic CLI, real kernel)
#   make install put git-rapido (and its man page) on PATH so "git rapido" works
#   make bench   run the benchmarks side by side with the reference tools

GO      ?= $(shell contrib/find-go.sh)
ifeq ($(shell id -u),0)
PREFIX  ?= /usr/local
else
PREFIX  ?= $(HOME)/.local
endif
BINDIR  := $(PREFIX)/bin
# The guest init, one per guest architecture: git-rapido looks for
# rapido-init-<arch> in ../libexec/git-rapido (installed) or next to itself
# (bin/ of this tree).
LIBEXECDIR := $(PREFIX)/libexec/git-rapido
INIT_ARCHES := x86_64:amd64 arm64:arm64
MANDIR  := $(PREFIX)/share/man/man1
# bash-completion loads completions by command name, but "git rapido" is
# completed by git's script, so ours must be sourced eagerly: as root it goes
# to /etc/bash_completion.d, otherwise users source it from ~/.bashrc.
COMPDIR ?= $(if $(filter /usr/local /usr,$(PREFIX)),/etc/bash_completion.d,$(PREFIX)/share/git-rapido)
VERSION := $(shell git describe --always --dirty --tags 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/git-rapido/git-rapido/cmd/internal/cli.version=$(VERSION)
BIN     := bin/git-rapido
# The real-kernel tier's repository and build cache live outside the clone so
# they survive between runs (and CI runs on the same machine).
CACHE   := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/git-rapido

export GOFLAGS ?= -buildvcs=false

.PHONY: all build install uninstall deps test test-unit test-real vet demo bench clean

all: build

# CGO_ENABLED=0: the guest init must be static (and git-rapido too, which is
# the guest's /init when no rapido-init is found for the host's architecture).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/git-rapido
	$(foreach a,$(INIT_ARCHES),CGO_ENABLED=0 GOARCH=$(word 2,$(subst :, ,$(a))) $(GO) build -trimpath -ldflags '-s -w' \
		-o bin/rapido-init-$(word 1,$(subst :, ,$(a))) ./cmd/rapido-init &&) true
	rm -rf bin/man1 && $(BIN) help --man-dir bin/man1

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/git-rapido
	install -d $(DESTDIR)$(LIBEXECDIR)
	install -m 0755 bin/rapido-init-* $(DESTDIR)$(LIBEXECDIR)/
	install -d $(DESTDIR)$(MANDIR)
	install -m 0644 bin/man1/*.1 $(DESTDIR)$(MANDIR)/
	install -D -m 0644 contrib/completion/git-rapido.bash $(DESTDIR)$(COMPDIR)/git-rapido
	install -D -m 0644 contrib/completion/_git-rapido $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_git-rapido
	install -d $(DESTDIR)$(PREFIX)/share/git-rapido/cuts
	install -m 0644 contrib/cuts/*.cut $(DESTDIR)$(PREFIX)/share/git-rapido/cuts/
	install -m 0755 contrib/cuts/*.sh $(DESTDIR)$(PREFIX)/share/git-rapido/cuts/
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) echo "note: add $(BINDIR) to PATH so 'git rapido' finds git-rapido";; esac

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/git-rapido $(DESTDIR)$(MANDIR)/git-rapido.1 $(DESTDIR)$(MANDIR)/git-rapido-*.1 \
		$(DESTDIR)$(MANDIR)/gitrapido-*.1 $(DESTDIR)$(COMPDIR)/git-rapido \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_git-rapido
	rm -rf $(DESTDIR)$(PREFIX)/share/git-rapido/cuts $(DESTDIR)$(LIBEXECDIR)

deps:
	@contrib/install-deps.sh

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Unit, fuzz seeds and the hermetic CLI tier (real git and gpg, fake qemu/make).
test-unit: build
	$(GO) test -count=1 ./...

# The real tier: a real kernel built from Debian's linux-source-6.1, really
# booted in QEMU. RAPIDO_REQUIRE_REAL makes any skip in that tier a failure.
test-real: build
	RAPIDO_KERNEL_REPO=$$(contrib/kernel/prepare-repo.sh) RAPIDO_REQUIRE_REAL=1 \
		RAPIDO_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 80m -run 'Real' -v ./... 2>&1 | contrib/ci/summarize-go-test.sh

test: deps vet test-unit test-real

demo: deps install
	contrib/demo.sh

bench: deps build
	RAPIDO_DEPS_BENCH=1 contrib/install-deps.sh
	GO=$(GO) RAPIDO_BIN=$(CURDIR)/$(BIN) contrib/bench/run.sh

clean:
	rm -rf bin
