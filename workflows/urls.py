from django.urls import path

from workflows import views

app_name = "workflows"

urlpatterns = [
    path("playbooks/new/", views.playbook_create, name="create"),
    path("playbooks/<uuid:public_id>/edit/", views.playbook_edit, name="edit"),
    path("playbooks/<uuid:public_id>/toggle/", views.playbook_toggle, name="toggle"),
    path("playbooks/<uuid:public_id>/delete/", views.playbook_delete, name="delete"),
    path("sites/", views.site_list, name="sites"),
    path("sites/new/", views.site_create, name="site-create"),
    path("sites/<uuid:public_id>/", views.site_edit, name="site-edit"),
    path("sites/<uuid:public_id>/rotate-key/", views.site_rotate_key, name="site-rotate-key"),
    path("goals/new/", views.goal_create, name="goal-create"),
    path("goals/<uuid:public_id>/edit/", views.goal_edit, name="goal-edit"),
    path("goals/<uuid:public_id>/delete/", views.goal_delete, name="goal-delete"),
    path("settings/", views.settings_view, name="settings"),
]
