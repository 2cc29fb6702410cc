# Two entry points for a fresh Debian/Ubuntu machine:
#   make demo   install what is missing, start the lab, scan it, write reports/demo/
#   make test   install what is missing, run the whole test suite
# and after a change to the reports: make samples (reports/samples, from a real lab scan)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# binary-or-file:package pairs installed with apt-get when missing
SYSTEM_PACKAGES := nmap:nmap redis-server:redis-server /usr/lib/postgresql/15/bin/postgres:postgresql /usr/sbin/sshd:openssh-server nginx:nginx ip:iproute2 unshare:util-linux \
  ssh-keygen:openssh-client cryptsetup:cryptsetup-bin gpg:gnupg 7z:p7zip-full age:age zip:zip sudo:sudo \
  nft:nftables iptables:iptables clamscan:clamav logrotate:logrotate /lib/systemd/systemd-journal-remote:systemd-journal-remote \
  unattended-upgrade:unattended-upgrades pgrep:procps mkpasswd:whois setpriv:util-linux chronyd:chrony \
  chromium:chromium /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core strace:strace

.PHONY: demo test samples deps system-deps clean

demo: deps
	$(VENV)/bin/annexscan demo -o reports/demo

test: deps
	$(PY) -m scanner.netns -- $(PY) -m pytest $(PYTEST_ARGS)

samples: deps
	sh reports/regenerate_samples.sh

deps: system-deps $(STAMP)

system-deps:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  bin=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$bin >/dev/null 2>&1 || [ -e $$bin ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    for try in $$(seq 60); do \
	      out=$$(LC_ALL=C apt-get update -qq 2>&1) && { [ -z "$$out" ] || echo "$$out"; break; }; \
	      case "$$out" in *"Could not get lock"*) ;; *) echo "$$out"; exit 1;; esac; \
	      [ $$try = 60 ] && { echo "$$out"; exit 1; }; \
	      [ $$try = 1 ] && echo "another apt holds its lock: waiting for it (at most 5 minutes)"; \
	      sleep 5; \
	    done; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      -o DPkg::Lock::Timeout=300 $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing - install them as root (apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) reports/demo build *.egg-info
