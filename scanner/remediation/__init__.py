"""annexscan remediate: an Ansible playbook and inventory for the failures of a scan."""
